package plan

import "testing"

func TestQuantityBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   int64
		want string
	}{
		{"valid-gibibytes", 2 << 30, "2Gi"},
		{"valid-mebibytes", 512 << 20, "512Mi"},
		{"valid-not-whole-gibibytes", 1536 << 20, "1536Mi"},
		{"valid-kibibytes", 64 << 10, "64Ki"},
		{"valid-bytes", 1000, "1000"},
		{"valid-one-byte-over", 1<<30 + 1, "1073741825"},
		{"valid-zero", 0, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := quantityBytes(tt.in); got != tt.want {
				t.Errorf("quantityBytes(%d) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsHostSystemPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     bool
	}{
		{"valid-root", "/", true},
		{"valid-etc", "/etc", true},
		{"valid-file-under-etc", "/etc/localtime", true},
		{"valid-docker-socket", "/var/run/docker.sock", true},
		{"valid-proc", "/proc", true},
		{"valid-sys-subdir", "/sys/fs/cgroup", true},
		{"valid-docker-data", "/var/lib/docker/volumes/x", true},
		{"valid-trailing-slash", "/dev/", true},
		{"valid-dot-dot-into-system", "/home/../etc/passwd", true},
		{"invalid-similar-prefix", "/etcetera", false},
		{"invalid-similar-docker-prefix", "/var/lib/dockerd", false},
		{"invalid-home", "/home/user/app/data", false},
		{"invalid-srv", "/srv/data", false},
		{"invalid-tmp", "/tmp/cache", false},
		{"invalid-dot-dot-out-of-system", "/etc/../srv/data", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := isHostSystemPath(tt.in); got != tt.want {
				t.Errorf("isHostSystemPath(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
