// Package audit owns the gateway's audit log: an append-only file of JSON lines, each carrying a sequence number and
// the hash of the line before it, so that an edited, deleted, moved or duplicated line breaks the chain.
//
// Writers use a Log ([Open], [Log.Append], [Log.Close]). Append returns only once its line is written and fsync'ed;
// concurrent Appends share one write and one fsync (group commit). After any write or fsync error the Log is failed
// and every later Append returns an error wrapping [ErrFailed], so that the gateway fails closed.
//
// Readers use [Verify] or [VerifyFile], which stream a log, stop at the first problem and report it as an [*Error]
// naming the file, line and seq, with a sentinel to branch on ([ErrTornTail] for the benign crash case,
// [ErrHashMismatch], [ErrSeqGap], [ErrOutOfOrder], [ErrChainBroken], [ErrInvalidJSON], [ErrUnknownVersion], ...).
//
// The line format, the exact bytes the hash covers, a short independent verifier, and what the chain and the
// optional head anchor do and do not prove are in docs/audit.md.
package audit
