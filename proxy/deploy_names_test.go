package proxy_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// The dashboard and alert test reads the metric names out of PromQL with
// this small tokenizer rather than Prometheus' parser, a module far too
// heavy for one test: what it must find is every identifier that names a
// series, and nothing else.

// promqlWords are the identifiers that are never metric names: set and
// grouping operators, modifiers, the literals of numbers, and the
// aggregations, which a grouping clause may part from their "(".
var promqlWords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
	"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "stddev": true, "stdvar": true,
	"topk": true, "bottomk": true, "quantile": true, "count_values": true, "group": true,
}

// groupingWords take a parenthesized list of label names.
var groupingWords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// metricNames returns the metric names expr selects, in order, once each.
// Strings, label matchers, ranges, label lists of grouping clauses,
// function names, numbers, durations and Grafana variables ($instance,
// ${x}) are skipped.
func metricNames(expr string) []string {
	var names []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(expr, i)
		case c == '{':
			i = skipTo(expr, i, '}')
		case c == '[':
			i = skipTo(expr, i, ']')
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				i = skipTo(expr, i, '}')
			}
			for i < len(expr) && identChar(expr[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (identChar(expr[i]) || expr[i] == '.') {
				i++
			}
		case identStart(c):
			j := i
			for j < len(expr) && identChar(expr[j]) {
				j++
			}
			word := expr[i:j]
			next := strings.TrimLeft(expr[j:], " \t\n")
			i = j
			switch lower := strings.ToLower(word); {
			case groupingWords[lower] && strings.HasPrefix(next, "("):
				i = skipTo(expr, len(expr)-len(next), ')')
			case promqlWords[lower], strings.HasPrefix(next, "("): // a function
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
		default:
			i++
		}
	}
	return names
}

// skipString returns the index after the string literal starting at i.
func skipString(s string, i int) int {
	quote := s[i]
	for i++; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quote != '`':
			i++
		case s[i] == quote:
			return i + 1
		}
	}
	return i
}

// skipTo returns the index after the close that ends what opens at i,
// strings inside skipped.
func skipTo(s string, i int, close byte) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '"', '\'', '`':
			i = skipString(s, i) - 1
		case close:
			return i + 1
		}
	}
	return i
}

func identStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func identChar(c byte) bool { return identStart(c) || c >= '0' && c <= '9' }

func TestMetricNames(t *testing.T) {
	f := func(expr string, want ...string) {
		t.Helper()
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
	f(`up{job="nora"} == 0`, "up")
	f(`nora_upstream_up`, "nora_upstream_up")
	f(`sum without (kind) (nora_storage_bytes) / (nora_storage_capacity_bytes > 0) > 0.9`,
		"nora_storage_bytes", "nora_storage_capacity_bytes")
	f(`histogram_quantile(0.95, sum by (le, format) (rate(nora_http_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))`,
		"nora_http_request_duration_seconds_bucket")
	f(`sum(rate(a_total{x="}b{"}[5m] offset 1d)) / on (job) group_left (version) b_info * 1e3`, "a_total", "b_info")
	f(`increase(x[${__range}]) > 0 and ON(instance) y unless z or bool w`, "x", "y", "z", "w")
	f(`min by (upstream) (nora_upstream_ratelimit_remaining) < 10`, "nora_upstream_ratelimit_remaining")
	f(`sum(rate(c_total[5m])) by (format)`, "c_total")
}

// dashboardExprs returns every PromQL expression of a Grafana dashboard:
// its panels' targets (rows' panels included) and the metrics its
// label_values() template variables read.
func dashboardExprs(t *testing.T, data []byte) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var exprs []string
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(e, k)
			}
		case []any:
			for _, e := range v {
				walk(e, key)
			}
		case string:
			switch {
			case key == "expr":
				exprs = append(exprs, v)
			case key == "definition" || key == "query":
				if arg, ok := strings.CutPrefix(v, "label_values("); ok {
					metric, _, _ := strings.Cut(arg, ",")
					exprs = append(exprs, strings.TrimSpace(metric))
				}
			}
		}
	}
	walk(doc, "")
	return exprs
}

// ruleExprs reads the alert names and expressions of a Prometheus rules
// file written in the plain YAML subset deploy/prometheus/alerts.yml keeps
// to: "- alert: Name", then "expr: ..." on one line or as a "|" block.
// Anything else in that shape (an expr without its alert, a block that
// does not follow) fails the test.
func ruleExprs(t *testing.T, text string) map[string]string {
	t.Helper()
	rules := map[string]string{}
	lines := strings.Split(text, "\n")
	alert := ""
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		if name, ok := strings.CutPrefix(trimmed, "- alert: "); ok {
			if _, dup := rules[name]; dup || alert != "" {
				t.Fatalf("line %d: alert %s repeated or %s has no expr", i+1, name, alert)
			}
			alert = name
			continue
		}
		expr, ok := strings.CutPrefix(trimmed, "expr:")
		if !ok {
			continue
		}
		if alert == "" {
			t.Fatalf("line %d: expr outside an alert", i+1)
		}
		expr = strings.TrimSpace(expr)
		if expr == "|" {
			indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
			var block []string
			for i+1 < len(lines) && (strings.TrimSpace(lines[i+1]) == "" ||
				len(lines[i+1])-len(strings.TrimLeft(lines[i+1], " ")) > indent) {
				i++
				block = append(block, strings.TrimSpace(lines[i]))
			}
			expr = strings.TrimSpace(strings.Join(block, "\n"))
		}
		if expr == "" {
			t.Fatalf("line %d: alert %s has an empty expr", i+1, alert)
		}
		rules[alert], alert = expr, ""
	}
	if alert != "" {
		t.Fatalf("alert %s has no expr", alert)
	}
	return rules
}
