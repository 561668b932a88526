package pgtest

import "syscall"

// setParentDeathSignal makes the kernel send the server SIGQUIT (PostgreSQL's immediate shutdown) when the test
// binary dies without stopping it: a panic, a test timeout, os.Exit.
func setParentDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGQUIT }
