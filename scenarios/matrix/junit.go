package matrix

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// EntryName is the name of the Ginkgo report entries, and so of the JUnit
// properties, that carry rows.
const EntryName = "fault-outcome"

// junitProperty is a JUnit <property>.
type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// junitSuites is the part of a Ginkgo JUnit report ReadJUnit reads.
type junitSuites struct {
	Suites []struct {
		Properties []junitProperty `xml:"properties>property"`
		Cases      []struct {
			Status     string          `xml:"status,attr"`
			Properties []junitProperty `xml:"properties>property"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// ReadJUnit reads the rows of a Ginkgo JUnit report (ginkgo
// --junit-report): the EntryName properties of the specs that passed. Its
// filter is the run's LabelFilter and FocusStrings properties, so a
// filtered run merges and a whole run replaces, as with the suite's own
// build/fault-matrix.json.
func ReadJUnit(r io.Reader) (File, error) {
	var s junitSuites
	if err := xml.NewDecoder(r).Decode(&s); err != nil {
		return File{}, fmt.Errorf("read JUnit report: %w", err)
	}
	var f File
	var filter []string
	for _, suite := range s.Suites {
		for _, p := range suite.Properties {
			if (p.Name == "LabelFilter" || p.Name == "FocusStrings") && p.Value != "" {
				filter = append(filter, p.Value)
			}
		}
		for _, c := range suite.Cases {
			if c.Status != "passed" {
				continue
			}
			for _, p := range c.Properties {
				if p.Name != EntryName {
					continue
				}
				var row Row
				if err := json.Unmarshal([]byte(p.Value), &row); err != nil {
					return File{}, fmt.Errorf("read JUnit report: %s property: %w", EntryName, err)
				}
				f.Rows = append(f.Rows, row)
			}
		}
	}
	f.Filter = strings.Join(filter, " ")
	Sort(f.Rows)
	return f, nil
}
