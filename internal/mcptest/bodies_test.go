package mcptest

import (
	"encoding/json"
	"testing"
)

func TestUTF7Hide(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{`"`: "+ACI-", "../": "+AC4ALgAv-", "é": "+AOk-", "😀": "+2D3eAA-"} {
		if got := UTF7Hide(in); got != want {
			t.Errorf("UTF7Hide(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUTF7SmuggledCallReadsAsEcho: a UTF-8 reader sees a plain call of echo (what a real UTF-7 reader sees is in
// TestBodyParsing).
func TestUTF7SmuggledCallReadsAsEcho(t *testing.T) {
	t.Parallel()
	var msg struct {
		Params struct {
			Name      string            `json:"name"`
			Arguments map[string]string `json:"arguments"`
		} `json:"params"`
	}
	if err := json.Unmarshal(UTF7SmuggledCall("delete_all"), &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Params.Name != "echo" || len(msg.Params.Arguments) != 1 || msg.Params.Arguments["message"] == "" {
		t.Errorf("a UTF-8 reader sees %+v, want one call of echo with a message", msg.Params)
	}
}
