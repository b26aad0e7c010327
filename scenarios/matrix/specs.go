package matrix

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/onsi/ginkgo/v2/types"
)

// ReadSpecs reads the full texts of the specs (It nodes) of a Ginkgo JSON
// report, such as a dry run's (ginkgo --dry-run --json-report): the
// stories that exist.
func ReadSpecs(r io.Reader) ([]string, error) {
	var reports []types.Report
	if err := json.NewDecoder(r).Decode(&reports); err != nil {
		return nil, fmt.Errorf("read Ginkgo JSON report: %w", err)
	}
	var texts []string
	for _, rep := range reports {
		for _, s := range rep.SpecReports {
			if s.LeafNodeType == types.NodeTypeIt {
				texts = append(texts, s.FullText())
			}
		}
	}
	return texts, nil
}

// Prune returns f without the rows whose story is not among stories (a
// story renamed or removed), and the rows it dropped.
func Prune(f File, stories []string) (File, []Row) {
	out := File{Filter: f.Filter}
	var dropped []Row
	for _, r := range f.Rows {
		if slices.Contains(stories, r.Story) {
			out.Rows = append(out.Rows, r)
		} else {
			dropped = append(dropped, r)
		}
	}
	return out, dropped
}
