package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// nora(8) (systemd/nora.8) is written by hand but for its SYNOPSIS, which
// manSynopsis generates from the commands, so that a command or flag
// cannot be added without the page showing it; TestManPage fails when the
// page's SYNOPSIS is not the generated one (go test -run TestManPage
// -update-man rewrites it) or a command is not described under COMMANDS.

// manSynopsis is the SYNOPSIS section's body: one entry per command that
// runs, with its arguments and flags, in the order of the command tree.
func manSynopsis(root *cobra.Command) string {
	var b strings.Builder
	first := true
	for _, c := range manCommands(root) {
		if !first {
			b.WriteString(".br\n")
		}
		first = false
		if c.Name() == "completion" {
			b.WriteString(".B nora completion\n.BR bash | zsh | fish\n")
			continue
		}
		fmt.Fprintf(&b, ".B %s\n", roff(c.CommandPath()))
		if _, args, ok := strings.Cut(c.Use, " "); ok && !strings.HasPrefix(args, "-") {
			fmt.Fprintf(&b, ".I %s\n", roff(args))
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			if f.Value.Type() == "bool" {
				fmt.Fprintf(&b, ".RB [ \\-\\-%s ]\n", roff(f.Name))
				return
			}
			fmt.Fprintf(&b, ".RB [ \\-\\-%s\n.IR %s ]\n", roff(f.Name), roff(flagNoun(f)))
		})
	}
	b.WriteString(".br\n.B nora \\-\\-version\n")
	return b.String()
}

// manCommands lists the commands that run, depth first; completion once
// for its shells, help not at all.
func manCommands(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, sub := range c.Commands() {
		switch {
		case sub.Hidden || sub.Name() == "help":
		case sub.Name() == "completion":
			out = append(out, sub)
		default:
			if sub.Runnable() {
				out = append(out, sub)
			}
			out = append(out, manCommands(sub)...)
		}
	}
	return out
}

// roff escapes s for a roff text line: a backslash and a minus sign.
func roff(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}

// flagNoun names a flag's value in the synopsis: the word its usage
// quotes, else what the value is.
func flagNoun(f *pflag.Flag) string {
	name, _ := pflag.UnquoteUsage(f)
	switch name {
	case "string", "stringArray", "strings":
		switch f.Name {
		case "config", "cacert", "home":
			return "file"
		case "server", "url":
			return "url"
		}
		return f.Name
	case "int":
		return "n"
	}
	return name
}
