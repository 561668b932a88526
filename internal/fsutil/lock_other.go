//go:build !unix

package fsutil

import (
	"context"
	"errors"
)

func Lock(context.Context, string) (func(), error) {
	return nil, errors.New("file locks need a Unix system")
}
