package audit

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// exportOf exports records from..to of c's log.
func exportOf(t *testing.T, c checkpointedLog, from, to uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Export(&buf, c.path, from, to, c.cp, c.key.Verifier); err != nil {
		t.Fatalf("export %d-%d: %v", from, to, err)
	}
	return buf.Bytes()
}

// TestExportRoundTrip: every range of a log exports into a file that verifies and holds exactly those lines.
func TestExportRoundTrip(t *testing.T) {
	t.Parallel()
	c := newCheckpointedLog(t, 13)
	ls := lines(c.data)
	for from := uint64(1); from <= 13; from++ {
		for to := from; to <= 13; to++ {
			exp := exportOf(t, c, from, to)
			got, err := VerifyExport(bytes.NewReader(exp), c.key.Verifier)
			if err != nil || got.From != from || got.To != to || got.Summary.Records != to {
				t.Fatalf("export %d-%d: %+v, %v", from, to, got, err)
			}
			if body := exp[bytes.IndexByte(exp, '\n')+1:]; !bytes.Equal(body, join(ls[from-1:to])) {
				t.Fatalf("export %d-%d: the lines differ from the log's", from, to)
			}
		}
	}
}

// TestExportTampered: an export whose lines, range, proof or checkpoint were changed is refused, with the error of
// its kind.
func TestExportTampered(t *testing.T) {
	t.Parallel()
	c := newCheckpointedLog(t, 20)
	exp := exportOf(t, c, 6, 9)
	header, body, _ := bytes.Cut(exp, []byte("\n"))
	bodyLines := lines(body)
	other := newCheckpointedLog(t, 20)
	foreign := exportOf(t, other, 6, 9)
	firstHash := string(bytes.Split(bytes.Split(header, []byte(`"left":["`))[1], []byte(`"`))[0])
	for _, tc := range []struct {
		name string
		exp  []byte
		want error
	}{
		{"a line edited, its hash recomputed", join(append([][]byte{append(header, '\n')},
			rechain(append([][]byte{bodyLines[0], rehash(bytes.Replace(bodyLines[1], []byte("req-7"), []byte("req-0"), 1))}, bodyLines[2:]...), 2)...)), ErrExportProof},
		{"a line dropped", append(append(header, '\n'), join(bodyLines[:3])...), ErrExportMalformed},
		{"range shifted", bytes.Replace(exp, []byte(`"from":6,"to":9`), []byte(`"from":5,"to":8`), 1), ErrExportMalformed},
		{"proof hash changed", bytes.Replace(exp, []byte(firstHash), []byte("A"+firstHash[1:]), 1), ErrExportProof},
		{"another log's checkpoint", foreign, ErrCheckpointSignature},
		{"extra line", append(bytes.Clone(exp), bodyLines[0]...), ErrExportMalformed},
		{"not an export", []byte("{}\n"), ErrExportMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := VerifyExport(bytes.NewReader(tc.exp), c.key.Verifier); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestExportRefusesBadLog: a log that does not match the checkpoint, or a range outside it, is not exported.
func TestExportRefusesBadLog(t *testing.T) {
	t.Parallel()
	c := newCheckpointedLog(t, 10)
	var buf bytes.Buffer
	if err := Export(&buf, c.path, 3, 11, c.cp, c.key.Verifier); err == nil {
		t.Fatal("exported records beyond the checkpoint")
	}
	ls := lines(c.data)
	writeFile(t, c.path, join(rechain(append(ls[:4:4], append([][]byte{bytes.Replace(ls[4], []byte("req-5"), []byte("req-6"), 1)}, ls[5:]...)...), 4)))
	if err := Export(&buf, c.path, 1, 2, c.cp, c.key.Verifier); !errors.Is(err, ErrRootMismatch) {
		t.Fatalf("export of a rewritten log: %v", err)
	}
}

// FuzzVerifyExport: no input makes VerifyExport panic; what it accepts holds as many records as its range says.
func FuzzVerifyExport(f *testing.F) {
	k := fixedKey(f)
	var log []byte
	var prev digest
	for i := 1; i <= 5; i++ {
		rec, _ := encodeRecord(testRecord(i))
		log, prev = appendLine(log, uint64(i), prev, rec)
	}
	ls := lines(log)
	for _, rng := range [][2]int{{1, 5}, {2, 3}, {5, 5}} {
		left := rangeFactory.NewEmptyRange(0)
		for _, ln := range ls[:rng[0]-1] {
			_ = left.Append(leafHash(bytes.TrimSuffix(ln, []byte("\n"))), nil)
		}
		right := rangeFactory.NewEmptyRange(uint64(rng[1]))
		for _, ln := range ls[rng[1]:] {
			_ = right.Append(leafHash(bytes.TrimSuffix(ln, []byte("\n"))), nil)
		}
		cp, err := SignCheckpoint(Checkpoint{Origin: "fuzz.example", Size: 5, Root: refRoot(ls), Head: prev.String()}, k.Signer)
		if err != nil {
			f.Fatal(err)
		}
		h := exportHeader{V: 1, Format: exportFormat, From: uint64(rng[0]), To: uint64(rng[1]), Size: 5,
			Left: left.Hashes(), Right: right.Hashes(), Checkpoint: string(cp)}
		hb := fmt.Appendf(nil, "%s\n", mustJSON(f, h))
		seed := append(hb, join(ls[rng[0]-1:rng[1]])...)
		if _, err := VerifyExport(bytes.NewReader(seed), k.Verifier); err != nil {
			f.Fatalf("seed %v: %v", rng, err)
		}
		f.Add(seed)
	}
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := VerifyExport(bytes.NewReader(data), k.Verifier)
		if err != nil {
			return
		}
		if n := bytes.Count(data, []byte("\n")) - 1; uint64(n) != got.To-got.From+1 {
			t.Fatalf("accepted %d lines for records %d to %d", n, got.From, got.To)
		}
	})
}
