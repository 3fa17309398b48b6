// kustomize, the release kubectl v1.37 embeds, to render deploy/ as `kubectl apply -k` would.
package main

import (
	"os"

	"sigs.k8s.io/kustomize/kustomize/v5/commands"
)

func main() {
	if err := commands.NewDefaultCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
