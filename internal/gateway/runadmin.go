package gateway

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/agops/agops/internal/audit"
)

// adminAuthenticator loads the approvers' token file of a gateway process (creating it when asked), and refuses a
// file that shares a token with the agents' file: an agent must not be able to act as an approver by its own token.
func adminAuthenticator(o RunOptions, agents Authenticator, log *slog.Logger) (*StaticTokens, error) {
	if o.AdminTokensFile == "" {
		return nil, errors.New("gateway: an approver token file is required: every admin route authenticates")
	}
	_, err := os.Stat(o.AdminTokensFile)
	switch {
	case errors.Is(err, fs.ErrNotExist) && o.CreateAdminTokens:
		if ValidIdentity(o.AdminName) != nil { // $USER may hold anything
			log.Warn("approver name not usable as an identity; using admin", "name", o.AdminName)
			o.AdminName = "admin"
		}
		if err := CreateAdminTokens(o.AdminTokensFile, o.AdminName); err != nil {
			return nil, err
		}
		log.Info("approver token created", "file", o.AdminTokensFile, "approver", o.AdminName)
	case errors.Is(err, fs.ErrNotExist):
		log.Warn("no approver token file yet: nobody can decide approvals until it exists", "file", o.AdminTokensFile)
		s := &StaticTokens{path: o.AdminTokensFile}
		s.table.Store(&[]tokenEntry{})
		return s, nil
	}
	admins, err := NewStaticTokens(o.AdminTokensFile)
	if err != nil {
		return nil, fmt.Errorf("gateway: approver tokens: %w", err)
	}
	if st, ok := agents.(*StaticTokens); ok && shareToken(st, admins) {
		return nil, fmt.Errorf("gateway: %s and %s share a token: an agent could approve calls", o.TokensFile, o.AdminTokensFile)
	}
	return admins, nil
}

func shareToken(a, b *StaticTokens) bool {
	for _, x := range *a.table.Load() {
		for _, y := range *b.table.Load() {
			if x.sum == y.sum {
				return true
			}
		}
	}
	return false
}

// CreateAdminTokens writes a new approver token file (mode 0600, refusing to replace one) with one random token for
// identity name.
func CreateAdminTokens(path, name string) error {
	if err := ValidIdentity(name); err != nil {
		return fmt.Errorf("gateway: approver name: %w", err)
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	line := "# agops gateway approvers: TOKEN IDENTITY (use with agops approve --token-file)\n" +
		"approver-" + hex.EncodeToString(raw[:]) + " " + name + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("gateway: creating approver tokens: %w", err)
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readPeerToken reads the replicas' shared token: the first non-comment line of PeerTokenFile.
func readPeerToken(o RunOptions) (string, error) {
	if o.PeerTokenFile == "" {
		return "", nil
	}
	tok, _, err := FirstToken(o.PeerTokenFile)
	if err != nil {
		return "", fmt.Errorf("gateway: peer token: %w", err)
	}
	return tok, nil
}

// FirstToken returns the token and identity ("" if the line has none) on the first line of a token file that is
// neither blank nor a comment: a file of "TOKEN [IDENTITY]" lines, such as an approver token file for agops approve.
func FirstToken(path string) (token, identity string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields[0]) < minTokenLen {
			return "", "", fmt.Errorf("%s: token shorter than %d characters", path, minTokenLen)
		}
		if len(fields) > 1 {
			identity = fields[1]
		}
		return fields[0], identity, nil
	}
	return "", "", fmt.Errorf("%s: no token in it", path)
}

// openAudit opens the audit log of a gateway process, with signed checkpoints when it has a key, published to the
// peers (when it has any and a token to reach them) besides o.AuditPublisher.
func openAudit(o RunOptions, log *slog.Logger, peers func(context.Context) []string, peerToken string) (*audit.Log, error) {
	aopts := []audit.Option{audit.WithLogger(log)}
	if o.AuditKey != "" {
		key, created, err := audit.LoadOrCreateKey(o.AuditKey, cmp.Or(o.AuditKeyName, "agops-gateway"))
		if err != nil {
			return nil, err
		}
		if created {
			log.Warn("audit checkpoint key created; give its .pub to whoever checks the log", "key", o.AuditKey,
				"verifier", audit.PubPath(o.AuditKey))
		}
		host, _ := os.Hostname()
		pub := o.AuditPublisher
		if peers != nil && peerToken != "" {
			pub = publishers(pub, PeerPublisher(peers, peerToken, key.VerifierKey))
		}
		aopts = append(aopts, audit.WithCheckpoints(audit.Checkpoints{
			Path: cmp.Or(o.AuditCheckpoint, o.AuditLog+".checkpoint"), Signer: key.Signer, Verifier: key.Verifier,
			Origin: key.Signer.Name() + "/" + host, Publisher: pub}))
	}
	return audit.Open(o.AuditLog, aopts...)
}

// publishers hands each checkpoint to every non-nil publisher.
func publishers(ps ...audit.Publisher) audit.Publisher {
	ps = slices.DeleteFunc(ps, func(p audit.Publisher) bool { return p == nil })
	return audit.PublishFunc(func(ctx context.Context, cp []byte) error {
		var errs []error
		for _, p := range ps {
			errs = append(errs, p.Publish(ctx, cp))
		}
		return errors.Join(errs...)
	})
}

// restoreBudgets rebuilds today's budgets from the records of today, found without reading the whole log.
func restoreBudgets(g *Gateway, path string, log *slog.Logger) error {
	records, err := audit.RecordsSince(path, time.Now().UTC().Truncate(24*time.Hour))
	if err != nil {
		return err
	}
	n := g.RestoreBudgets(func(yield func(audit.Record) bool) {
		for r, err := range records {
			if err != nil {
				log.Error("budgets: audit records not fully read", "err", err)
				return
			}
			if !yield(r) {
				return
			}
		}
	})
	if n > 0 {
		log.Info("budgets restored from the audit log", "records", n)
	}
	return nil
}
