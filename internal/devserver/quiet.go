package devserver

import (
	"log/slog"

	sdklog "go.temporal.io/sdk/log"
)

// QuietLogger is a Temporal SDK logger that drops everything: for clients whose own errors are reported anyway.
func QuietLogger() sdklog.Logger { return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)) }
