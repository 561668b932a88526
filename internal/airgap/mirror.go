package airgap

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Mirror sends the pulls of one registry to a pull-through cache (a company proxy, Harbor's proxy cache, a
// registry:2 in proxy mode): an image Host/path:tag is fetched as Target/path:tag, keeping the repository path
// (library/postgres for Docker Hub's official images) and the tag or digest.
type Mirror struct {
	// Host is the registry mirrored, as go-containerregistry names it (index.docker.io for docker.io).
	Host string
	// Target is where its images are fetched from: REG or REG/prefix.
	Target string
}

// String is the HOST=REG[/prefix] form ParseMirror reads.
func (m Mirror) String() string { return m.Host + "=" + m.Target }

// source is what agops-bundle.json records for an image fetched through m.
func (m Mirror) source() string { return sourceMirror + m.Target }

// ParseMirror reads HOST=REG[/prefix] (`--pull-mirror docker.io=proxy.corp.example/dockerhub`). HOST is a registry
// host without scheme or path (docker.io stands for index.docker.io too); REG must look like a registry host (a
// dot or a port, or localhost), without a scheme.
func ParseMirror(s string) (Mirror, error) {
	host, target, ok := strings.Cut(s, "=")
	why := ""
	switch {
	case !ok:
		why = "no '='"
	case host == "":
		why = "no registry host before '='"
	case strings.Contains(host, "://"):
		why = fmt.Sprintf("registry host %q has a scheme", host)
	case strings.Contains(host, "/"):
		why = fmt.Sprintf("registry host %q has a path", host)
	case !isHost(host):
		why = fmt.Sprintf("%q is not a registry host (it needs a dot or a port, or is localhost)", host)
	case target == "":
		why = "no mirror after '='"
	}
	if why != "" {
		return Mirror{}, fmt.Errorf("pull mirror %q: %s; want HOST=REG[/prefix], like docker.io=proxy.corp.example/dockerhub", s, why)
	}
	reg, err := name.NewRegistry(host)
	if err != nil {
		return Mirror{}, fmt.Errorf("pull mirror %q: %w", s, err)
	}
	r, prefix, err := splitTarget(target)
	if err != nil {
		return Mirror{}, fmt.Errorf("pull mirror %q: %w", s, err)
	}
	if prefix != "" {
		r += "/" + prefix
	}
	return Mirror{Host: reg.RegistryStr(), Target: r}, nil
}

// ParseMirrors reads every value with ParseMirror and refuses two mirrors for one host, reporting every problem.
func ParseMirrors(values []string) ([]Mirror, error) {
	var out []Mirror
	var errs []error
	for _, v := range values {
		m, err := ParseMirror(v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	if _, err := mirrorsByHost(out); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// mirrorsByHost checks ms (each must be what ParseMirror returns, one per host) and indexes them by host.
func mirrorsByHost(ms []Mirror) (map[string]Mirror, error) {
	out := map[string]Mirror{}
	var errs []error
	for _, m := range ms {
		parsed, err := ParseMirror(m.String())
		switch {
		case err != nil:
			errs = append(errs, err)
		case parsed != m:
			errs = append(errs, fmt.Errorf("pull mirror %s: write it as %s", m, parsed))
		case out[m.Host] != Mirror{}:
			errs = append(errs, fmt.Errorf("two pull mirrors for %s: %s and %s", m.Host, out[m.Host].Target, m.Target))
		default:
			out[m.Host] = m
		}
	}
	return out, errors.Join(errs...)
}

// mirrorRef is where ref is fetched from through m: the same repository path and tag (or digest) under m.Target.
func mirrorRef(ref name.Reference, m Mirror, insecure bool) (name.Reference, error) {
	repo, err := name.NewRepository(m.Target+"/"+ref.Context().RepositoryStr(), nameOptions(insecure)...)
	if err != nil {
		return nil, fmt.Errorf("pull mirror %s: %w", m.Target, err)
	}
	if _, ok := ref.(name.Digest); ok {
		return repo.Digest(ref.Identifier()), nil
	}
	return repo.Tag(ref.Identifier()), nil
}
