//go:build !unix

package fsutil

import (
	"context"
	"errors"
)

func Lock(context.Context, string) (func(), error) {
	return nil, errors.New("file locks need a Unix system")
}

func TryLock(string) (func(), bool, error) {
	return nil, false, errors.New("file locks need a Unix system")
}
