// Command speclint lints openapi.yaml with a second implementation of
// OpenAPI besides kin-openapi (which the api tests load it with):
// pb33f's libopenapi builds the model, resolving every $ref, and
// libopenapi-validator checks the document against the OpenAPI 3.1 JSON
// Schema. It prints one line per problem, with the spec's line and column
// where known, and exits 1 on any; make lint runs it.
//
//	go run ./internal/speclint openapi.yaml
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: speclint openapi.yaml")
		os.Exit(2)
	}
	os.Exit(lint(os.Args[1], os.Stdout))
}

// lint reports the problems of the spec at path to w: 0 when there are
// none, 1 otherwise.
func lint(path string, w io.Writer) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(w, err)
		return 1
	}
	cfg := datamodel.NewDocumentConfiguration()
	cfg.Logger = slog.New(slog.DiscardHandler) // its JSON log lines repeat the errors reported below
	doc, err := libopenapi.NewDocumentWithConfiguration(b, cfg)
	if err != nil {
		fmt.Fprintf(w, "%s: %v\n", path, err)
		return 1
	}
	if _, err := doc.BuildV3Model(); err != nil {
		fmt.Fprintf(w, "%s: %v\n", path, err) // an unresolved $ref, a malformed object
		return 1
	}
	ok, problems := schema_validation.ValidateOpenAPIDocument(doc)
	for _, p := range problems {
		fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", path, p.SpecLine, p.SpecCol, p.Message, p.Reason)
		for _, f := range p.SchemaValidationErrors {
			fmt.Fprintf(w, "\t%s: %s\n", f.FieldPath, f.Reason)
		}
	}
	if !ok {
		return 1
	}
	fmt.Fprintf(w, "%s: valid (libopenapi)\n", path)
	return 0
}
