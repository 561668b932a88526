// Package audit owns the gateway's audit log: an append-only file of JSON lines, each carrying a sequence number and
// the hash of the line before it, so that an edited, deleted, moved or duplicated line breaks the chain; and the
// signed checkpoints that make the log's end and any rewrite of it visible too.
//
// Writers use a Log ([Open], [Log.Append], [Log.Close]). Append returns only once its line is written and fsync'ed;
// concurrent Appends share one write and one fsync (group commit). After any write or fsync error the Log is failed
// and every later Append returns an error wrapping [ErrFailed], so that the gateway fails closed. Open continues a
// log from its resume state ([StatePath]) when that matches the file, reading only the lines after it, and verifies
// the whole log otherwise.
//
// The Log keeps an RFC 6962 Merkle tree over its lines (as a compact range) and, with [WithCheckpoints], signs a
// [Checkpoint] of its size and root after its group commits (a golang.org/x/mod/sumdb/note signed note, written off
// the append path to a file that may be on another volume, and handed to an optional [Publisher]). Keys are made by
// [WriteKeyPair] and loaded by [LoadKey], [LoadOrCreateKey] and [LoadVerifier].
//
// Readers use [Verify] or [VerifyFile] (the chain), [VerifyCheckpoint] (the chain and a signed checkpoint), which
// stream a log, stop at the first problem and report it as an [*Error] naming the file, line and seq, with a sentinel
// to branch on ([ErrTornTail] for the benign crash case, [ErrHashMismatch], [ErrSeqGap], [ErrOutOfOrder],
// [ErrChainBroken], [ErrShorterThanCheckpoint], [ErrRootMismatch], [ErrUncovered], ...). [RecordsSince] streams the
// records after a time without reading the lines before it. [Export] writes a range of records with the proof that
// ties them to a checkpoint, and [VerifyExport] checks one.
//
// The line format, the exact bytes the hash covers, the tree, the checkpoint format, short independent verifiers,
// and what the chain, the anchor and the checkpoints do and do not prove are in docs/audit.md.
package audit
