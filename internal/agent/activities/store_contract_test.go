package activities

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/agops/agops/internal/llm"
)

// storeKind opens stores for the contract tests: open returns a fresh, empty store and a function that opens another
// handle on the same data, as a second worker would.
type storeKind struct {
	name string
	open func(t testing.TB) (TranscriptStore, func(testing.TB) TranscriptStore)
}

// storeKinds are every TranscriptStore, held to one contract.
func storeKinds() []storeKind {
	return []storeKind{
		{"file", func(t testing.TB) (TranscriptStore, func(testing.TB) TranscriptStore) {
			dir := t.TempDir()
			again := func(testing.TB) TranscriptStore { return &FileStore{Dir: dir} }
			return again(t), again
		}},
		{"postgres", func(t testing.TB) (TranscriptStore, func(testing.TB) TranscriptStore) {
			dsn := pg.NewDatabase(t)
			again := func(t testing.TB) TranscriptStore { return openPostgres(t, dsn) }
			return again(t), again
		}},
	}
}

func msg(role, content string) llm.Message { return llm.Message{Role: role, Content: content} }

func msgs(prefix string, n int) []llm.Message {
	out := make([]llm.Message, n)
	for i := range out {
		out[i] = msg(llm.RoleUser, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func mustPut(t testing.TB, s TranscriptStore, key string, from int, m ...llm.Message) {
	t.Helper()
	if err := s.Put(context.Background(), key, from, m...); err != nil {
		t.Fatalf("Put(%q, %d, %d messages): %v", key, from, len(m), err)
	}
}

// wantMessages checks that the first len(want) messages of key are want.
func wantMessages(t testing.TB, s TranscriptStore, key string, want ...llm.Message) {
	t.Helper()
	got, err := s.Get(context.Background(), key, len(want))
	if err != nil {
		t.Fatalf("Get(%q, %d): %v", key, len(want), err)
	}
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("Get(%q, %d) =\n%+v\nwant\n%+v", key, len(want), got, want)
	}
}

// wantErr checks that err is an error whose message holds every part.
func wantErr(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one saying %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not say %q", err, p)
		}
	}
}

// wantLen checks that key holds exactly n messages.
func wantLen(t testing.TB, s TranscriptStore, key string, n int) {
	t.Helper()
	if _, err := s.Get(context.Background(), key, n); err != nil {
		t.Fatalf("Get(%q, %d): %v", key, n, err)
	}
	_, err := s.Get(context.Background(), key, n+1)
	wantErr(t, err, fmt.Sprintf("has %d messages, want %d", n, n+1))
}

var msgA, msgB, msgC, msgX = msg(llm.RoleSystem, "a"), msg(llm.RoleUser, "b"), msg(llm.RoleAssistant, "c"), msg(llm.RoleUser, "x")

// contract is what every TranscriptStore must do.
var contract = []struct {
	name string
	run  func(t *testing.T, s TranscriptStore)
}{
	{"valid-round-trip", func(t *testing.T, s TranscriptStore) {
		mustPut(t, s, "k", 0, msgA, msgB, msgC)
		wantMessages(t, s, "k", msgA, msgB, msgC)
		wantMessages(t, s, "k", msgA, msgB)
		wantMessages(t, s, "k")
		wantMessages(t, s, "never-written")
	}},
	{"valid-append", func(t *testing.T, s TranscriptStore) {
		mustPut(t, s, "k", 0, msgA)
		mustPut(t, s, "k", 1, msgB)
		mustPut(t, s, "k", 2, msgC)
		wantMessages(t, s, "k", msgA, msgB, msgC)
		wantLen(t, s, "k", 3)
	}},
	{"valid-overwrite-drops-tail", func(t *testing.T, s TranscriptStore) {
		mustPut(t, s, "k", 0, msgA, msgB, msgC)
		mustPut(t, s, "k", 1, msgX)
		wantMessages(t, s, "k", msgA, msgX)
		wantLen(t, s, "k", 2)
	}},
	{"valid-retried-put-writes-once", func(t *testing.T, s TranscriptStore) {
		mustPut(t, s, "k", 0, msgA)
		mustPut(t, s, "k", 1, msgB, msgC)
		mustPut(t, s, "k", 1, msgB, msgC)
		wantMessages(t, s, "k", msgA, msgB, msgC)
		wantLen(t, s, "k", 3)
	}},
	{"valid-empty-put-truncates", func(t *testing.T, s TranscriptStore) {
		mustPut(t, s, "k", 0, msgA, msgB, msgC)
		mustPut(t, s, "k", 1)
		wantLen(t, s, "k", 1)
		mustPut(t, s, "k", 0)
		wantLen(t, s, "k", 0)
	}},
	{"valid-keys-independent", func(t *testing.T, s TranscriptStore) {
		mustPut(t, s, "run/1/agent-a", 0, msgA, msgB)
		mustPut(t, s, "run/1/agent-b", 0, msgX)
		wantMessages(t, s, "run/1/agent-a", msgA, msgB)
		wantLen(t, s, "run/1/agent-b", 1)
	}},
	{"valid-rich-messages", func(t *testing.T, s TranscriptStore) {
		rich := []llm.Message{
			{Role: llm.RoleAssistant, Content: "", ToolCalls: []llm.ToolCall{{ID: "call_1", Type: "function",
				Function: llm.FunctionCall{Name: "search", Arguments: `{"q": "naïve \"quotes\" \\ back\nslash"}`}}}},
			{Role: llm.RoleTool, ToolCallID: "call_1", Content: "NUL \x00 byte, emoji 🚀, CJK 漢字, tab\t, ' and \""},
			{Role: llm.RoleUser, Name: "bob", Content: strings.Repeat("large ", 200_000)},
		}
		key := "run 1/agent ü/'quoted'"
		mustPut(t, s, key, 0, rich...)
		wantMessages(t, s, key, rich...)
	}},
	{"invalid-gap", func(t *testing.T, s TranscriptStore) {
		mustPut(t, s, "k", 0, msgA)
		wantErr(t, s.Put(context.Background(), "k", 2, msgB), "transcript k has 1 messages; cannot store message 2")
		wantMessages(t, s, "k", msgA)
		wantLen(t, s, "k", 1)
	}},
	{"invalid-put-past-empty", func(t *testing.T, s TranscriptStore) {
		wantErr(t, s.Put(context.Background(), "k", 1, msgA), "transcript k has 0 messages; cannot store message 1")
		wantLen(t, s, "k", 0)
	}},
	{"invalid-get-too-many", func(t *testing.T, s TranscriptStore) {
		_, err := s.Get(context.Background(), "k", 1)
		wantErr(t, err, "transcript k has 0 messages, want 1")
		mustPut(t, s, "k", 0, msgA, msgB)
		_, err = s.Get(context.Background(), "k", 5)
		wantErr(t, err, "transcript k has 2 messages, want 5")
	}},
	{"invalid-negative", func(t *testing.T, s TranscriptStore) {
		mustPut(t, s, "k", 0, msgA)
		wantErr(t, s.Put(context.Background(), "k", -1, msgB), "transcript k: cannot store message -1")
		_, err := s.Get(context.Background(), "k", -1)
		wantErr(t, err, "transcript k: cannot get -1 messages")
		wantMessages(t, s, "k", msgA)
	}},
	{"concurrent-different-keys", testConcurrentKeys},
	{"concurrent-same-key", testConcurrentSameKey},
}

func TestTranscriptStoreContract(t *testing.T) {
	t.Parallel()
	for _, kind := range storeKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range contract {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					s, _ := kind.open(t)
					tc.run(t, s)
				})
			}
		})
	}
}

// testConcurrentKeys appends to several transcripts at once, one goroutine each.
func testConcurrentKeys(t *testing.T, s TranscriptStore) {
	const keys, turns = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, keys)
	for k := range keys {
		wg.Go(func() {
			key := fmt.Sprintf("agent-%d", k)
			for i, m := range msgs(key, turns) {
				if err := s.Put(context.Background(), key, i, m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for k := range keys {
		key := fmt.Sprintf("agent-%d", k)
		wantMessages(t, s, key, msgs(key, turns)...)
		wantLen(t, s, key, turns)
	}
}

// testConcurrentSameKey has writers replace one transcript at once, writer w with w+1 messages of its own, while a
// reader checks that it never sees a Put half done. At the end the transcript is one writer's, whole.
func testConcurrentSameKey(t *testing.T, s TranscriptStore) {
	const writers, rounds = 6, 10
	ctx := context.Background()
	mustPut(t, s, "k", 0, msgs("w0", 1)...)
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for range rounds {
				if err := s.Put(ctx, "k", 0, msgs(fmt.Sprint("w", w), w+1)...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	go func() {
		defer close(errs)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := s.Get(ctx, "k", 1); err != nil {
				errs <- fmt.Errorf("a reader saw a Put half done: %w", err)
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	for err := range errs {
		t.Fatal(err)
	}
	first, err := s.Get(ctx, "k", 1)
	if err != nil {
		t.Fatal(err)
	}
	var w int
	if _, err := fmt.Sscanf(first[0].Content, "w%d-0", &w); err != nil {
		t.Fatalf("first message %q: %v", first[0].Content, err)
	}
	wantMessages(t, s, "k", msgs(fmt.Sprint("w", w), w+1)...)
	wantLen(t, s, "k", w+1)
}

func TestTranscriptStoreSharedByTwoWorkers(t *testing.T) {
	t.Parallel()
	for _, kind := range storeKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			one, again := kind.open(t)
			two := again(t)
			mustPut(t, one, "k", 0, msgA, msgB)
			wantMessages(t, two, "k", msgA, msgB)
			mustPut(t, two, "k", 1, msgX)
			wantMessages(t, one, "k", msgA, msgX)
			wantLen(t, one, "k", 2)
		})
	}
}

// BenchmarkTranscriptStore measures one turn of an agent 50 messages into its run: store the new message, read the
// whole transcript back.
func BenchmarkTranscriptStore(b *testing.B) {
	for _, kind := range storeKinds() {
		b.Run(kind.name, func(b *testing.B) {
			s, _ := kind.open(b)
			ctx := context.Background()
			history := msgs(strings.Repeat("a message of about a paragraph ", 12), 49)
			mustPut(b, s, "k", 0, history...)
			turn := msg(llm.RoleAssistant, strings.Repeat("the model's answer ", 20))
			for b.Loop() {
				if err := s.Put(ctx, "k", 49, turn); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Get(ctx, "k", 50); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
