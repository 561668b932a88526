//go:build !unix

package testbed

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
