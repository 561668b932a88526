package gateway

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// ConsoleToken returns the token of the console identity (ConsolePrefix + name) in the approver tokens file at
// path, adding a new one to the file when it lists none: what `agops dev` gives the console it serves. The file
// stays mode 0600; the gateway rereads it when it changes.
func ConsoleToken(path, name string) (string, error) {
	identity := ConsolePrefix + name
	if err := ValidIdentity(identity); err != nil {
		return "", fmt.Errorf("gateway: console name: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") && SameIdentity(f[1], identity) {
			return f[0], nil
		}
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	token := "console-" + hex.EncodeToString(raw[:])
	line := token + " " + identity + "\n"
	if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
		line = "\n" + line
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return "", fmt.Errorf("gateway: adding a console token: %w", err)
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("gateway: adding a console token: %w", err)
	}
	return token, nil
}
