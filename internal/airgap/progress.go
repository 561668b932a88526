package airgap

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// meter draws one progress line per image: on a terminal a bar redrawn in place, elsewhere (logs, pipes) the
// final line only. A nil *meter draws nothing.
type meter struct {
	mu          sync.Mutex
	w           io.Writer
	tty         bool
	label       string
	done, total int64
	drawn       time.Time
}

// newMeter starts a line for label; it returns nil when w is nil.
func newMeter(w io.Writer, label string, total int64) *meter {
	if w == nil {
		return nil
	}
	f, ok := w.(*os.File)
	return &meter{w: w, tty: ok && term.IsTerminal(int(f.Fd())), label: label, total: total}
}

// add counts n more bytes done.
func (m *meter) add(n int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done += n
	m.redraw()
}

// set replaces the counts (push progress reports totals, not increments).
func (m *meter) set(done, total int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done, m.total = done, total
	m.redraw()
}

// redraw draws the bar on a terminal, at most ten times a second.
func (m *meter) redraw() {
	if !m.tty || time.Since(m.drawn) < 100*time.Millisecond {
		return
	}
	m.drawn = time.Now()
	fmt.Fprintf(m.w, "\r%s\x1b[K", m.line())
}

// end writes the final line with a note.
func (m *meter) end(note string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	prefix := ""
	if m.tty {
		prefix = "\r\x1b[K"
	}
	fmt.Fprintf(m.w, "%s%s  %s\n", prefix, m.line(), note)
}

// line is "label [#####     ] 12.0 MiB / 40.0 MiB".
func (m *meter) line() string {
	const width = 20
	filled := width
	if m.total > 0 && m.done < m.total {
		filled = int(m.done * width / m.total)
	}
	bar := strings.Repeat("#", filled) + strings.Repeat(" ", width-filled)
	return fmt.Sprintf("%s [%s] %s / %s", m.label, bar, human(m.done), human(m.total))
}

// human writes a byte count in binary units.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit && exp < 4; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
