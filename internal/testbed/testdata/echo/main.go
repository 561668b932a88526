// Command echo is the test bed's own test image: `echo serve ADDR` answers every HTTP request with the pod's name;
// `echo get URL` fetches URL and exits 0 if it answered 200 (it retries for up to 60 s); `echo traffic URL` calls
// URL every 100 ms for 50 s and prints agops's traffic summary (internal/traffic).
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/agops/agops/internal/traffic"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: echo serve ADDR | echo get URL | echo traffic URL")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		host, _ := os.Hostname()
		err := http.ListenAndServe(os.Args[2], http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintln(w, host)
		}))
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	case "traffic":
		r, err := traffic.Run(context.Background(), traffic.Options{Target: os.Args[2], For: 50 * time.Second})
		if err == nil {
			err = traffic.WriteLine(os.Stdout, r)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	case "get":
		client := &http.Client{Timeout: 2 * time.Second}
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := client.Get(os.Args[2])
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					fmt.Printf("answered by %s", body)
					return
				}
				err = fmt.Errorf("status %s", resp.Status)
			}
			fmt.Fprintln(os.Stderr, err)
			if time.Now().After(deadline) {
				os.Exit(1)
			}
			time.Sleep(time.Second)
		}
	}
	os.Exit(2)
}
