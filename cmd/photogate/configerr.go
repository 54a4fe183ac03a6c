package main

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// unknownField matches yaml's "line 3: field endpont not found in type
// main.backendConfig", which names a Go type the user never sees.
var unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)

// explainYAMLError rewrites yaml's unknown-field errors in terms of the
// configuration file: the section, the keys it allows, and the closest one.
func explainYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	sections := yamlSections(reflect.TypeOf(config{}), "top level")
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		sub := unknownField.FindStringSubmatch(m)
		if sub == nil {
			continue
		}
		sec, ok := sections[sub[3]]
		if !ok {
			continue
		}
		msg := fmt.Sprintf("line %s: unknown key %q in %s", sub[1], sub[2], sec.name)
		if s := closest(sub[2], sec.keys); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		msgs[i] = msg + "; allowed: " + strings.Join(sec.keys, ", ")
	}
	return errors.New(strings.Join(msgs, "; "))
}

type yamlSection struct {
	name string
	keys []string
}

// yamlSections maps every struct type reachable from t (by its Go name, as
// yaml reports it) to where it sits in the file and the keys it takes.
func yamlSections(t reflect.Type, name string) map[string]yamlSection {
	out := map[string]yamlSection{}
	var walk func(t reflect.Type, name string)
	walk = func(t reflect.Type, name string) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			if t.Kind() == reflect.Slice {
				name += "[]"
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t.PkgPath() == "time" {
			return
		}
		if _, seen := out[t.String()]; seen {
			return
		}
		sec := yamlSection{name: name}
		out[t.String()] = sec
		for _, f := range yamlKeys(t) {
			sec.keys = append(sec.keys, f.key)
			child := f.key
			if name != "top level" {
				child = name + "." + f.key
			}
			walk(f.typ, child)
		}
		sort.Strings(sec.keys)
		out[t.String()] = sec
	}
	walk(t, name)
	return out
}

type yamlKey struct {
	key string
	typ reflect.Type
}

// yamlKeys lists the keys of struct t as yaml decodes them, with the
// fields of ",inline" structs in place.
func yamlKeys(t reflect.Type) []yamlKey {
	var keys []yamlKey
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || tag == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			keys = append(keys, yamlKeys(f.Type)...)
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		keys = append(keys, yamlKey{tag, f.Type})
	}
	return keys
}

// closest is the key within two edits of s, if there is one.
func closest(s string, keys []string) string {
	best, bestD := "", 3
	for _, k := range keys {
		if d := editDistance(strings.ToLower(s), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
