//go:build !unix

package testbed

import (
	"context"
	"errors"
)

func lockFile(context.Context, string) (func(), error) {
	return nil, errors.New("the testbed needs a Unix system")
}
