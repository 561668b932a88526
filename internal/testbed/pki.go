package testbed

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/agops/agops/internal/netutil"
)

const (
	adminUser = "agops-admin"
	// serviceAccountIssuer is the issuer of service account tokens.
	serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
)

// writeServiceAccountKey writes a new RSA private key, PEM-encoded, to path.
func writeServiceAccountKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generating service account key: %w", err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

// tokenUser is a user of the static token file besides the admin.
type tokenUser struct{ name, groups string }

// writeTokenFile writes a static token file with one admin token in group
// system:masters and one token per user, and returns the admin's token and
// the users' tokens by name.
func writeTokenFile(path string, users []tokenUser) (string, map[string]string, error) {
	newToken := func() (string, error) {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	}
	token, err := newToken()
	if err != nil {
		return "", nil, err
	}
	lines := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", token, adminUser, adminUser)
	tokens := map[string]string{}
	for _, u := range users {
		t, err := newToken()
		if err != nil {
			return "", nil, err
		}
		tokens[u.name] = t
		lines += fmt.Sprintf("%s,%s,%s,\"%s\"\n", t, u.name, u.name, u.groups)
	}
	return token, tokens, os.WriteFile(path, []byte(lines), 0o600)
}

// ports of one cluster, all on 127.0.0.1.
type ports struct {
	etcdClient, etcdPeer, apiServer, controllerManager, scheduler int
	kwok                                                          []int
}

func allocatePorts(nodes int) (ports, error) {
	p, err := netutil.FreePorts(5 + nodes)
	if err != nil {
		return ports{}, err
	}
	return ports{etcdClient: p[0], etcdPeer: p[1], apiServer: p[2], controllerManager: p[3], scheduler: p[4], kwok: p[5:]}, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// paths of the files of one cluster, under its temporary folder.
type paths struct {
	root, etcdData, certDir, logs, volumes string
	saKey, tokens, kubeconfig, kwokConfig  string
}

func newPaths(root string) paths {
	return paths{
		root:       root,
		etcdData:   filepath.Join(root, "etcd"),
		certDir:    filepath.Join(root, "certs"),
		logs:       filepath.Join(root, "logs"),
		volumes:    filepath.Join(root, "volumes"),
		saKey:      filepath.Join(root, "sa.key"),
		tokens:     filepath.Join(root, "tokens.csv"),
		kubeconfig: filepath.Join(root, "kubeconfig"),
		kwokConfig: filepath.Join(root, "kwok.yaml"),
	}
}

func (p paths) servingCert() string { return filepath.Join(p.certDir, "apiserver.crt") }

// rootCA is the CA of the API server's serving certificate, alone.
func (p paths) rootCA() string { return filepath.Join(p.root, "ca.crt") }

// caCertificates returns the CA certificates of a PEM bundle, such as the
// serving certificate the API server generates (leaf, then its CA). Without
// any, it returns the whole bundle.
func caCertificates(bundle []byte) []byte {
	var out []byte
	rest := bundle
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if block.Type == "CERTIFICATE" && err == nil && cert.IsCA {
			out = append(out, pem.EncodeToMemory(block)...)
		}
	}
	if len(out) == 0 {
		return bundle
	}
	return out
}
