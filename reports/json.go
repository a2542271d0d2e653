package reports

import (
	"encoding/json"
	"io"
)

// WriteJSON writes the report as one indented JSON document (see
// SchemaVersion). Log text is escaped by encoding/json: <, > and & become
// \u003c, \u003e and \u0026, invalid UTF-8 becomes U+FFFD, so the document
// is safe to embed and to pipe.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
