package standin

import (
	"slices"
	"testing"
)

func TestInRounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{"stand-in", "--every", "2s", OnceFlag}, []string{"stand-in", "--every", "2s"}},
		// The original command keeps its own --once.
		{[]string{"stand-in", OnceFlag, "--", "seed", OnceFlag}, []string{"stand-in", "--", "seed", OnceFlag}},
		{[]string{"stand-in", "--", OnceFlag}, []string{"stand-in", "--", OnceFlag}},
	} {
		in := slices.Clone(tc.in)
		if got := InRounds(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("InRounds(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("InRounds changed its argument %q to %q", in, tc.in)
		}
	}
}
