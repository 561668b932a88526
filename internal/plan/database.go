package plan

import (
	"bytes"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/agops/agops/internal/model"
)

// postgresImages are PostgreSQL servers, by imageBase.
var postgresImages = set("postgres", "postgresql", "postgis", "pgvector", "timescaledb")

// postgres returns the project's PostgreSQL — the first service by name whose image is a PostgreSQL server, as the
// data tier recognises it — or "".
func (pl *planner) postgres() string {
	for _, n := range pl.order {
		s := pl.svcs[n]
		if postgresImages[imageBase(s.Image)] && !strings.HasPrefix(s.NetworkMode, "service:") {
			return n
		}
	}
	return ""
}

// envOf returns a variable of a service's Compose environment, or "".
func (pl *planner) envOf(n, key string) string {
	if v := pl.svcs[n].Environment[key]; v != nil {
		return *v
	}
	return ""
}

// postgresUser is the database's superuser, as the postgres image creates it.
func (pl *planner) postgresUser(pg string) string {
	if u := pl.envOf(pg, "POSTGRES_USER"); u != "" {
		return u
	}
	return "postgres"
}

// postgresDatabase is the database the postgres image creates.
func (pl *planner) postgresDatabase(pg string) string {
	if d := pl.envOf(pg, "POSTGRES_DB"); d != "" {
		return d
	}
	return pl.postgresUser(pg)
}

// postgresPort is the port the database listens on.
func (pl *planner) postgresPort(pg string) int32 {
	if p, err := strconv.Atoi(pl.envOf(pg, "PGPORT")); err == nil && p > 0 && p <= 65535 {
		return int32(p)
	}
	return 5432
}

// postgresPassword returns the Secret key the migration made for the database's password, and where that came from.
// ref is nil when there is none: needed is false when the database lets clients in without one (trust).
func (pl *planner) postgresPassword(pg string) (ref *model.KeyRef, from string, needed bool) {
	if pl.svcs[pg].Environment["POSTGRES_PASSWORD"] != nil {
		for _, sec := range sortedValues(pl.secrets) {
			for _, k := range sec.Keys {
				if k.Key == "POSTGRES_PASSWORD" && k.Source == "environment of service "+pg {
					return &model.KeyRef{Name: sec.Name, Key: k.Key}, "POSTGRES_PASSWORD of " + pg, true
				}
			}
		}
	}
	if f := pl.envOf(pg, "POSTGRES_PASSWORD_FILE"); f != "" {
		for _, ref := range pl.svcs[pg].Secrets {
			target := ref.Target
			if target == "" {
				target = ref.Source
			}
			if !path.IsAbs(target) {
				target = path.Join(secretsDir, target)
			}
			if sec := pl.secrets["compose:"+ref.Source]; target == f && sec != nil {
				return &model.KeyRef{Name: sec.Name, Key: sec.Keys[0].Key}, "Compose secret " + ref.Source + ", the POSTGRES_PASSWORD_FILE of " + pg, true
			}
		}
		return nil, "its POSTGRES_PASSWORD_FILE " + f + " is not one of its Compose secrets", true
	}
	if strings.EqualFold(pl.envOf(pg, "POSTGRES_HOST_AUTH_METHOD"), "trust") {
		return nil, "POSTGRES_HOST_AUTH_METHOD trust: no password", false
	}
	return nil, "it sets neither POSTGRES_PASSWORD nor POSTGRES_PASSWORD_FILE", true
}

// envCaveat says why a Secret key holding the database's password does not work as an environment variable as it
// is, with the fix: a value read from a file that ends with a newline, which the postgres image strips from
// POSTGRES_PASSWORD_FILE but a variable keeps. Both are empty when the value is fine or unknown.
func (pl *planner) envCaveat(ref *model.KeyRef) (reason, hint string) {
	for _, sec := range sortedValues(pl.secrets) {
		for _, k := range sec.Keys {
			if sec.Name != ref.Name || k.Key != ref.Key || !k.Known || k.File == "" || !bytes.HasSuffix(k.Value, []byte("\n")) {
				continue
			}
			file := relTo(pl.p.WorkingDir, k.File)
			return fmt.Sprintf("%s ends with a newline, which the postgres image strips from the file but an environment variable keeps", file),
				fmt.Sprintf(`create Secret %s without it (in every namespace the report lists): kubectl create secret generic %s -n NAMESPACE --from-literal=%s="$(cat %s)"`, sec.Name, sec.Name, k.Key, file)
		}
	}
	return "", ""
}
