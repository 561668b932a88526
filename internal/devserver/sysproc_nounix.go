//go:build !unix

package devserver

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
