package audit

import (
	"crypto/sha256"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The log's Merkle tree is the RFC 6962 tree (the one of Certificate Transparency, Go's checksum database and the
// transparency-dev logs) whose i-th leaf is the i-th line of the log, without its newline: leaf hash
// SHA-256(0x00 || line), interior node SHA-256(0x01 || left || right). A Log keeps the tree as a compact range (the
// roots of at most 64 perfect subtrees), so appending costs O(log n) and a checkpoint's root needs no re-reading.

// hasher is the tree's hash function.
var hasher = rfc6962.DefaultHasher

// rangeFactory builds the compact ranges of the tree.
var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// leafHash is the tree's hash of one line (newline excluded).
func leafHash(line []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(line)
	return h.Sum(make([]byte, 0, sha256.Size))
}

// emptyRoot is the root of the tree of no lines: SHA-256 of the empty string.
func emptyRoot() []byte { return hasher.EmptyRoot() }

// rootOf returns the root of a compact range that starts at leaf 0.
func rootOf(r *compact.Range) []byte {
	if r.End() == 0 {
		return emptyRoot()
	}
	root, err := r.GetRootHash(nil)
	if err != nil { // only for a range that does not start at 0, which no caller builds
		return nil
	}
	return root
}
