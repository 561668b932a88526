package plan

import "testing"

func TestNumericUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		uid    int64
		gid    int64 // -1: no group
		wantOK bool
	}{
		{"valid-uid", "1000", 1000, -1, true},
		{"valid-root", "0", 0, -1, true},
		{"valid-uid-gid", "1000:2000", 1000, 2000, true},
		{"valid-root-root", "0:0", 0, 0, true},
		{"invalid-name", "postgres", 0, 0, false},
		{"invalid-name-and-group", "www-data:www-data", 0, 0, false},
		{"invalid-uid-and-group-name", "1000:staff", 0, 0, false},
		{"invalid-negative-uid", "-1", 0, 0, false},
		{"invalid-negative-gid", "1000:-1", 0, 0, false},
		{"invalid-empty-group", "1000:", 0, 0, false},
		{"invalid-empty-user", ":1000", 0, 0, false},
		{"invalid-empty", "", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			uid, gid, ok := numericUser(tt.in)
			if ok != tt.wantOK {
				t.Fatalf("numericUser(%q) ok = %v, want %v", tt.in, ok, tt.wantOK)
			}
			if !ok {
				if uid != nil || gid != nil {
					t.Errorf("numericUser(%q) = %v, %v with ok false, want nil ids", tt.in, uid, gid)
				}
				return
			}
			if uid == nil || *uid != tt.uid {
				t.Errorf("numericUser(%q) uid = %v, want %d", tt.in, uid, tt.uid)
			}
			switch {
			case tt.gid < 0 && gid != nil:
				t.Errorf("numericUser(%q) gid = %d, want none", tt.in, *gid)
			case tt.gid >= 0 && (gid == nil || *gid != tt.gid):
				t.Errorf("numericUser(%q) gid = %v, want %d", tt.in, gid, tt.gid)
			}
		})
	}
}
