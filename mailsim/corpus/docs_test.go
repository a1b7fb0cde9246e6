package corpus

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkDocument asserts that body is a well-formed file of the type its
// name says.
func checkDocument(t testing.TB, name string, body []byte) {
	t.Helper()
	switch strings.ToLower(filepath.Ext(name)) {
	case ".pdf":
		checkPDF(t, name, body)
	case ".docx":
		files := checkZip(t, name, body)
		for _, part := range []string{"[Content_Types].xml", "_rels/.rels", "word/document.xml"} {
			assert.Contains(t, files, part, name)
		}
		for p, b := range files {
			if strings.HasSuffix(p, ".xml") || strings.HasSuffix(p, ".rels") {
				checkXML(t, name+":"+p, b)
			}
		}
	case ".xlsx":
		files := checkZip(t, name, body)
		for _, part := range []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml"} {
			assert.Contains(t, files, part, name)
		}
		for p, b := range files {
			checkXML(t, name+":"+p, b)
		}
		assert.Contains(t, string(files["xl/worksheets/sheet1.xml"]), "<row r=\"4\">", "%s has data rows", name)
	case ".csv":
		r := csv.NewReader(bytes.NewReader(body))
		r.Comma = ';'
		rows, err := r.ReadAll()
		require.NoError(t, err, name)
		assert.NotEmpty(t, rows, name)
	case ".zip":
		files := checkZip(t, name, body)
		assert.GreaterOrEqual(t, len(files), 2, name)
		for p, b := range files {
			if strings.HasSuffix(p, ".pdf") {
				checkPDF(t, name+":"+p, b)
			}
		}
	default:
		t.Errorf("%s: unexpected attachment type", name)
	}
}

func checkPDF(t testing.TB, name string, b []byte) {
	t.Helper()
	assert.True(t, bytes.HasPrefix(b, []byte("%PDF-1.")), "%s starts with %%PDF", name)
	assert.True(t, bytes.HasSuffix(bytes.TrimRight(b, "\r\n"), []byte("%%EOF")), "%s ends with %%%%EOF", name)
}

func checkZip(t testing.TB, name string, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err, name)
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err, name)
		data, err := io.ReadAll(rc) // checks the CRC
		require.NoError(t, err, "%s: %s", name, f.Name)
		rc.Close()
		files[f.Name] = data
	}
	return files
}

func checkXML(t testing.TB, name string, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if !assert.NoError(t, err, "%s is well-formed XML", name) {
			return
		}
	}
}

// TestDocumentsOpen renders every document type and opens it; with
// MAILDRILL_DOCS_DIR set, the files are also written there for a look with
// real office software.
func TestDocumentsOpen(t *testing.T) {
	o, err := New(Config{Seed: 3, Users: 120, MaxAttachmentSize: 256 << 10})
	require.NoError(t, err)
	dir := os.Getenv("MAILDRILL_DOCS_DIR")
	for ti, dt := range docTypes {
		t.Run(dt.id, func(t *testing.T) {
			for _, v := range []int{0, 1, docVariants - 1} {
				m := o.docMeta(ti, v)
				b, err := o.renderDoc(&m)
				require.NoError(t, err)
				assert.True(t, strings.HasSuffix(m.Filename, "."+dt.format), m.Filename)
				checkDocument(t, m.Filename, b)
				again, err := o.renderDoc(&m)
				require.NoError(t, err)
				assert.Equal(t, b, again, "%s renders identically twice", m.Filename)
				if !dt.fixedSize && m.Target >= 40<<10 {
					assert.InEpsilon(t, m.Target, len(b), 0.3, "%s: size %d for target %d", m.Filename, len(b), m.Target)
				}
				if dir != "" {
					require.NoError(t, os.WriteFile(filepath.Join(dir, m.Filename), b, 0o644))
				}
			}
		})
	}
}

// TestPDFInfo opens generated PDFs with poppler's pdfinfo when installed.
func TestPDFInfo(t *testing.T) {
	pdfinfo, err := exec.LookPath("pdfinfo")
	if err != nil {
		t.Skip("pdfinfo (poppler-utils) not installed")
	}
	o, err := New(Config{Seed: 3, MaxAttachmentSize: 1 << 20})
	require.NoError(t, err)
	dir := t.TempDir()
	for ti, dt := range docTypes {
		if dt.format != "pdf" {
			continue
		}
		m := o.docMeta(ti, 2)
		b, err := o.renderDoc(&m)
		require.NoError(t, err)
		path := filepath.Join(dir, m.Filename)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		out, err := exec.Command(pdfinfo, path).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "Pages:")
		assert.NotContains(t, string(out), "Syntax Error")
		// Rasterise the last page (a scanned annex when there is one):
		// poppler decodes the JPEG, restart markers and all.
		if pdftoppm, err := exec.LookPath("pdftoppm"); err == nil {
			var pages int
			for _, line := range strings.Split(string(out), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "Pages:" {
					pages, _ = strconv.Atoi(f[1])
				}
			}
			require.Positive(t, pages)
			last := strconv.Itoa(pages)
			out, err := exec.Command(pdftoppm, "-r", "20", "-f", last, "-l", last, "-png", path, filepath.Join(dir, "page")).CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Empty(t, string(out), "pdftoppm %s", m.Filename)
		}
	}
}

// TestUnzip checks DOCX, XLSX and ZIP packages with Info-ZIP when installed.
func TestUnzip(t *testing.T) {
	unzip, err := exec.LookPath("unzip")
	if err != nil {
		t.Skip("unzip not installed")
	}
	o, err := New(Config{Seed: 3, MaxAttachmentSize: 1 << 20})
	require.NoError(t, err)
	dir := t.TempDir()
	for ti, dt := range docTypes {
		if dt.format != "docx" && dt.format != "xlsx" && dt.format != "zip" {
			continue
		}
		m := o.docMeta(ti, 4)
		b, err := o.renderDoc(&m)
		require.NoError(t, err)
		path := filepath.Join(dir, m.Filename)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		out, err := exec.Command(unzip, "-t", path).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "No errors detected")
	}
}

// TestSizeDistribution checks the planned sizes of the whole document pool
// as messages draw from it: most attachments 20 KB–2 MB, a few 5–15 MB.
func TestSizeDistribution(t *testing.T) {
	o, err := New(Config{Seed: 1})
	require.NoError(t, err)
	var n, mid, large, huge int
	for ti, dt := range docTypes {
		if dt.fixedSize {
			continue
		}
		for v := 0; v < docVariants; v++ {
			m := o.docMeta(ti, v)
			n++
			switch s := m.Target; {
			case s > 15<<20:
				huge++
			case s >= 5<<20:
				large++
			case s >= 20<<10 && s <= 2<<20:
				mid++
			}
		}
	}
	t.Logf("%d documents: %d in 20 KB–2 MB, %d in 5–15 MB", n, mid, large)
	assert.Zero(t, huge)
	assert.Greater(t, float64(mid)/float64(n), 0.8)
	assert.InDelta(t, 0.04, float64(large)/float64(n), 0.03)

	// Actual sizes follow the plan.
	for _, id := range []string{"signalement", "liste_personnel", "extraction_taj", "pieces_dossier", "compte_rendu"} {
		ti := docTypeIndex(id)
		for v := 0; v < docVariants; v++ {
			m := o.docMeta(ti, v)
			if m.Target < 30<<10 || m.Target > 1<<20 {
				continue
			}
			b, err := o.renderDoc(&m)
			require.NoError(t, err)
			assert.InEpsilon(t, m.Target, len(b), 0.3, "%s", m.Filename)
			break
		}
	}
}

func TestLargeDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	o, err := New(Config{Seed: 1})
	require.NoError(t, err)
	ti := docTypeIndex("signalement")
	for v := 0; v < docVariants; v++ {
		m := o.docMeta(ti, v)
		if m.Target < 5<<20 {
			continue
		}
		b, err := o.renderDoc(&m)
		require.NoError(t, err)
		checkPDF(t, m.Filename, b)
		assert.InEpsilon(t, m.Target, len(b), 0.15)
		t.Logf("%s: %d bytes", m.Filename, len(b))
		return
	}
	t.Fatal("no large variant")
}

func TestNonASCIIFilename(t *testing.T) {
	o, err := New(Config{Seed: 1, MaxAttachmentSize: 64 << 10})
	require.NoError(t, err)
	m := o.docMeta(docTypeIndex("note_synthese"), 0)
	require.Contains(t, m.Filename, "è")
	// Find a message that carries it: generate messages until one has a
	// non-ASCII attachment name, then check go-message decodes it.
	for _, u := range o.Users() {
		for _, f := range o.Folders(u.Address) {
			for uid := uint32(1); uid <= f.Count; uid++ {
				msg, err := o.Message(u.Address, f.Name, uid)
				require.NoError(t, err)
				for _, a := range msg.Attachments {
					if strings.ContainsAny(a.Filename, "éèû") {
						assert.Contains(t, string(msg.Raw), "filename*=utf-8''")
						p := parseMessage(t, msg)
						assert.Contains(t, p.attachments, a.Filename)
						return
					}
				}
			}
		}
	}
	t.Fatal("no message with a non-ASCII attachment name")
}

// TestOfficeOpens converts generated DOCX and XLSX files with LibreOffice
// when it is installed (Debian: libreoffice-writer-nogui,
// libreoffice-calc-nogui): Word documents to PDF, spreadsheets to CSV.
func TestOfficeOpens(t *testing.T) {
	soffice, err := exec.LookPath("soffice")
	if err != nil {
		t.Skip("LibreOffice (soffice) not installed")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	o, err := New(Config{Seed: 3, MaxAttachmentSize: 200 << 10})
	require.NoError(t, err)
	dir := t.TempDir()
	var inputs []string
	for ti, dt := range docTypes {
		if dt.format != "docx" && dt.format != "xlsx" {
			continue
		}
		m := o.docMeta(ti, 6)
		b, err := o.renderDoc(&m)
		require.NoError(t, err)
		path := filepath.Join(dir, m.Filename)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		inputs = append(inputs, path)
	}
	out := filepath.Join(dir, "out")
	for _, conv := range []struct{ ext, to string }{{".docx", "pdf"}, {".xlsx", "csv"}} {
		args := []string{"-env:UserInstallation=file://" + filepath.Join(dir, "profile"), "--headless", "--convert-to", conv.to, "--outdir", out}
		for _, in := range inputs {
			if strings.HasSuffix(in, conv.ext) {
				args = append(args, in)
			}
		}
		cmd := exec.Command(soffice, args...)
		outb, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", outb)
	}
	for _, in := range inputs {
		base := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
		ext := ".pdf"
		if strings.HasSuffix(in, ".xlsx") {
			ext = ".csv"
		}
		b, err := os.ReadFile(filepath.Join(out, base+ext))
		if assert.NoError(t, err, "LibreOffice converted %s", filepath.Base(in)) {
			assert.NotEmpty(t, b)
			if ext == ".csv" {
				assert.Greater(t, bytes.Count(b, []byte("\n")), 3, "%s has rows", filepath.Base(in))
			}
		}
	}
}

// AttachmentTypes are the extensions the attachments' file names carry:
// scenarios' types: filters are checked against them.
func TestAttachmentTypes(t *testing.T) {
	o, err := New(Config{Seed: 3, Users: 10, MessagesPerUser: 5})
	if err != nil {
		t.Fatal(err)
	}
	types := AttachmentTypes()
	if !slices.Equal(types, []string{"csv", "docx", "pdf", "xlsx", "zip"}) {
		t.Fatalf("AttachmentTypes() = %v", types)
	}
	for ti := range docTypes {
		for v := 0; v < docVariants; v++ {
			name := o.docMeta(ti, v).Filename
			if ext := strings.TrimPrefix(path.Ext(name), "."); !slices.Contains(types, ext) {
				t.Errorf("%s: type %q is not among %v", name, ext, types)
			}
		}
	}
}
