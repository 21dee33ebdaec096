package rest

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

//go:embed presets/*.json
var presetFiles embed.FS

// Presets lists the names of the shipped mappings.
func Presets() []string {
	entries, _ := fs.ReadDir(presetFiles, "presets")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	slices.Sort(names)
	return names
}

// PresetJSON returns the shipped mapping name as written.
func PresetJSON(name string) ([]byte, error) {
	b, err := presetFiles.ReadFile("presets/" + name + ".json")
	if err != nil {
		return nil, fmt.Errorf("rest: no preset %q (presets: %s)", name, strings.Join(Presets(), ", "))
	}
	return b, nil
}

// Preset returns a fresh copy of the shipped mapping name.
func Preset(name string) (*Mapping, error) {
	b, err := PresetJSON(name)
	if err != nil {
		return nil, err
	}
	m, err := parseMapping(b)
	if err != nil {
		return nil, fmt.Errorf("rest preset %s: %v", name, err)
	}
	return m, nil
}
