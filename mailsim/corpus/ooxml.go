package corpus

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/csv"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of scans
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/maildrill/maildrill/internal/nozero"
)

// Minimal OOXML packages, written by hand: the parts Word and Excel (and
// LibreOffice) need, and nothing whose bytes could vary between runs.

type zipBuilder struct {
	out countingWriter
	zw  *zip.Writer
	err error
}

// newZipBuilder writes a zip file to w.
func newZipBuilder(w io.Writer) *zipBuilder {
	z := &zipBuilder{out: countingWriter{w: w}}
	z.zw = zip.NewWriter(&z.out)
	z.zw.RegisterCompressor(zip.Deflate, newFastFlate)
	return z
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// Parts are deflated at flate.BestSpeed, about four times faster than the
// default level (Office itself trades ratio for speed), with pooled writers.
var fastFlatePool sync.Pool

type fastFlate struct{ *flate.Writer }

func newFastFlate(w io.Writer) (io.WriteCloser, error) {
	if f, ok := fastFlatePool.Get().(*fastFlate); ok {
		f.Reset(w)
		return f, nil
	}
	fw, err := flate.NewWriter(w, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	return &fastFlate{fw}, nil
}

func (f *fastFlate) Close() error {
	err := f.Writer.Close()
	f.Reset(io.Discard)
	fastFlatePool.Put(f)
	return err
}

func (z *zipBuilder) create(name string, deflate bool) io.Writer {
	if z.err != nil {
		return io.Discard
	}
	h := &zip.FileHeader{Name: name, Method: zip.Store}
	if deflate {
		h.Method = zip.Deflate
	}
	h.Modified = fixedTime
	w, err := z.zw.CreateHeader(h)
	if err != nil {
		z.err = err
		return io.Discard
	}
	return w
}

func (z *zipBuilder) file(name string, deflate bool, data []byte) {
	if _, err := z.create(name, deflate).Write(data); err != nil && z.err == nil {
		z.err = err
	}
}

// close ends the zip file.
func (z *zipBuilder) close() error {
	if z.err != nil {
		return z.err
	}
	return z.zw.Close()
}

func xmlEscape(s string) string {
	if !strings.ContainsAny(s, "<>&\"") {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\r\n"

func corePropsXML(title, creator string) []byte {
	ts := fixedTime.Format("2006-01-02T15:04:05Z")
	return []byte(xmlHeader + `<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<dc:title>` + xmlEscape(title) + `</dc:title><dc:creator>` + xmlEscape(creator) + `</dc:creator>` +
		`<dcterms:created xsi:type="dcterms:W3CDTF">` + ts + `</dcterms:created><dcterms:modified xsi:type="dcterms:W3CDTF">` + ts + `</dcterms:modified></cp:coreProperties>`)
}

// renderDOCX writes a WordprocessingML package; scanned annexes embedded as
// JPEG pictures bring it to the target size.
func renderDOCX(m *docMeta, c docContent, target int, w io.Writer) error {
	var body strings.Builder
	para := func(text string, bold bool, size int, align string) {
		body.WriteString(`<w:p><w:pPr><w:spacing w:after="160"/>`)
		if align != "" {
			body.WriteString(`<w:jc w:val="` + align + `"/>`)
		}
		body.WriteString("</w:pPr>")
		body.WriteString("<w:r>")
		if bold || size > 0 {
			body.WriteString("<w:rPr>")
			if bold {
				body.WriteString("<w:b/>")
			}
			if size > 0 {
				fmt.Fprintf(&body, `<w:sz w:val="%d"/>`, size)
			}
			body.WriteString("</w:rPr>")
		}
		body.WriteString(`<w:t xml:space="preserve">` + xmlEscape(text) + "</w:t></w:r></w:p>")
	}
	para("MINISTÈRE DE L'INTÉRIEUR", true, 22, "")
	para(departments[m.Dept].Name, false, 18, "")
	if c.Marking != "" {
		para(c.Marking, true, 20, "right")
	}
	para("Paris, le "+frenchDate(m.Date), false, 0, "right")
	para(c.Title, true, 32, "center")
	if c.Subtitle != "" {
		para(c.Subtitle, false, 24, "center")
	}
	for _, p := range c.Paras {
		para(p, false, 0, "both")
	}
	if c.Row != nil && c.PreviewRows > 0 {
		w := 9000 / len(c.Cols)
		body.WriteString(`<w:tbl><w:tblPr><w:tblW w:w="0" w:type="auto"/><w:tblBorders>`)
		for _, side := range []string{"top", "left", "bottom", "right", "insideH", "insideV"} {
			body.WriteString(`<w:` + side + ` w:val="single" w:sz="4" w:space="0" w:color="auto"/>`)
		}
		body.WriteString(`</w:tblBorders></w:tblPr><w:tblGrid>`)
		for range c.Cols {
			fmt.Fprintf(&body, `<w:gridCol w:w="%d"/>`, w)
		}
		body.WriteString("</w:tblGrid>")
		row := func(cells []string, bold bool) {
			body.WriteString("<w:tr>")
			for _, v := range cells {
				fmt.Fprintf(&body, `<w:tc><w:tcPr><w:tcW w:w="%d" w:type="dxa"/></w:tcPr><w:p><w:r>`, w)
				if bold {
					body.WriteString("<w:rPr><w:b/></w:rPr>")
				}
				body.WriteString(`<w:t xml:space="preserve">` + xmlEscape(v) + "</w:t></w:r></w:p></w:tc>")
			}
			body.WriteString("</w:tr>")
		}
		row(c.Cols, true)
		for i := 0; i < c.PreviewRows; i++ {
			row(c.Row(i), false)
		}
		body.WriteString("</w:tbl>")
	}
	para("Données fictives — exercice", false, 14, "center")

	var pages [][]byte
	if target > 0 {
		pages = scanPages(m.key.str("scan"), target-3000-body.Len()/4)
	}
	var rels strings.Builder
	rels.WriteString(xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`)
	for i, p := range pages {
		cfg, _, err := image.DecodeConfig(bytes.NewReader(p))
		if err != nil {
			return err
		}
		cx := 5760000
		cy := cx * cfg.Height / cfg.Width
		body.WriteString(`<w:p><w:r><w:br w:type="page"/></w:r></w:p>`)
		para(fmt.Sprintf("Annexe %d", i+1), true, 0, "")
		fmt.Fprintf(&body, `<w:p><w:r><w:drawing><wp:inline distT="0" distB="0" distL="0" distR="0"><wp:extent cx="%d" cy="%d"/><wp:docPr id="%d" name="Image %d"/>`+
			`<a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture">`+
			`<pic:pic xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:nvPicPr><pic:cNvPr id="%d" name="image%d.jpeg"/><pic:cNvPicPr/></pic:nvPicPr>`+
			`<pic:blipFill><a:blip r:embed="rIdImg%d"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>`+
			`<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="%d" cy="%d"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>`,
			cx, cy, i+1, i+1, i+1, i+1, i+1, cx, cy)
		fmt.Fprintf(&rels, `<Relationship Id="rIdImg%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="media/image%d.jpeg"/>`, i+1, i+1)
	}
	rels.WriteString("</Relationships>")

	doc := xmlHeader + `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"><w:body>` +
		body.String() +
		`<w:sectPr><w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="1417" w:right="1417" w:bottom="1417" w:left="1417" w:header="708" w:footer="708" w:gutter="0"/></w:sectPr></w:body></w:document>`

	z := newZipBuilder(w)
	z.file("[Content_Types].xml", true, []byte(xmlHeader+`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">`+
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="jpeg" ContentType="image/jpeg"/>`+
		`<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>`+
		`<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>`))
	z.file("_rels/.rels", true, []byte(xmlHeader+`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`+
		`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>`+
		`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>`))
	z.file("docProps/core.xml", true, corePropsXML(c.Title, departments[m.Dept].Name))
	z.file("word/document.xml", true, []byte(doc))
	z.file("word/_rels/document.xml.rels", true, []byte(rels.String()))
	for i, p := range pages {
		z.file(fmt.Sprintf("word/media/image%d.jpeg", i+1), false, p)
	}
	return z.close()
}

// renderXLSX writes a SpreadsheetML package with one sheet: a title row,
// the header, then rows until the package reaches the target size (or the
// table ends).
func renderXLSX(m *docMeta, c docContent, target int, out io.Writer) error {
	z := newZipBuilder(out)
	z.file("[Content_Types].xml", true, []byte(xmlHeader+`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">`+
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>`+
		`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>`+
		`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`+
		`<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>`+
		`<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>`))
	z.file("_rels/.rels", true, []byte(xmlHeader+`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`+
		`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>`+
		`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>`))
	z.file("docProps/core.xml", true, corePropsXML(c.Title, departments[m.Dept].Name))
	z.file("xl/workbook.xml", true, []byte(xmlHeader+`<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">`+
		`<sheets><sheet name="Feuil1" sheetId="1" r:id="rId1"/></sheets></workbook>`))
	z.file("xl/_rels/workbook.xml.rels", true, []byte(xmlHeader+`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`+
		`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>`+
		`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`))
	z.file("xl/styles.xml", true, []byte(xmlHeader+`<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`+
		`<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>`+
		`<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>`+
		`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>`+
		`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>`+
		`<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>`+
		`<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>`))

	w := z.create("xl/worksheets/sheet1.xml", true)
	b := make([]byte, 0, sheetChunk+16<<10)
	b = append(b, xmlHeader+`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`...)
	cols := make([]string, max(len(c.Cols), 1))
	for j := range cols {
		cols[j] = `<c r="` + colName(j)
	}
	writeRow := func(n int, cells []string, style int) {
		b = append(b, `<row r="`...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, `">`...)
		for j, v := range cells {
			if j < len(cols) {
				b = append(b, cols[j]...)
			} else {
				b = append(b, `<c r="`+colName(j)...)
			}
			b = strconv.AppendInt(b, int64(n), 10)
			if style == 0 && isPlainNumber(v) {
				b = append(b, `"><v>`...)
				b = append(b, v...)
				b = append(b, `</v></c>`...)
				continue
			}
			b = append(b, `" t="inlineStr"`...)
			if style > 0 {
				b = append(b, ` s="1"`...)
			}
			// xml:space only where needed, as Excel writes it.
			if v != "" && (v[0] == ' ' || v[len(v)-1] == ' ') {
				b = append(b, `><is><t xml:space="preserve">`...)
			} else {
				b = append(b, `><is><t>`...)
			}
			b = appendXMLEscaped(b, v)
			b = append(b, `</t></is></c>`...)
		}
		b = append(b, "</row>"...)
	}
	writeRow(1, []string{c.Title}, 1)
	writeRow(3, c.Cols, 1)
	// Rows are made here and deflated by another goroutine: on two cores
	// that nearly halves the time of a large sheet. The bytes do not depend
	// on how they are cut.
	full, free := make(chan []byte, 8), make(chan []byte, 8)
	done := make(chan error, 1)
	go func() {
		var err error
		for chunk := range full {
			if err == nil {
				_, err = w.Write(chunk)
			}
			select {
			case free <- chunk[:0]:
			default:
			}
		}
		done <- err
	}()
	flush := func() {
		full <- b
		select {
		case b = <-free:
		default:
			b = nozero.Bytes(cap(b))[:0] // appended to, never read beyond
		}
	}
	// Stop when the compressed sheet would reach the target. Deflate emits
	// late, so the size is estimated from the compression ratio of the
	// first rows.
	// The size is checked every 32 rows; rows are handed to the deflating
	// goroutine in chunks of sheetChunk bytes (fewer hand-offs, each of
	// which may wait for a processor on a busy machine). start is where
	// the rows since the last check begin in b.
	const maxRows = 1_000_000
	raw, ratio, start := 0, 0.0, 0
	budget := target - z.out.n - 600
	for i := 0; i < maxRows && (c.MaxRows == 0 || i < c.MaxRows); i++ {
		writeRow(4+i, c.Row(i), 0)
		if i == 63 {
			ratio = deflateRatio(b[start:]) // rows 32 to 63
		}
		if i%32 == 31 {
			raw += len(b) - start
			start = len(b)
			if len(b) >= sheetChunk {
				flush()
				start = 0
			}
			if ratio > 0 && float64(raw)/ratio >= float64(budget) {
				break
			}
		}
		if c.MaxRows == 0 && i >= 20 && target <= 0 {
			break
		}
	}
	b = append(b, `</sheetData></worksheet>`...)
	flush()
	close(full)
	if err := <-done; err != nil && z.err == nil {
		z.err = err
	}
	return z.close()
}

// sheetChunk is how many bytes of sheet XML are handed to the deflating
// goroutine at a time (at least: whole groups of 32 rows).
const sheetChunk = 256 << 10

// appendXMLEscaped appends s to b with <, >, & and " escaped.
func appendXMLEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		if !xmlSpecial[s[i]] {
			continue
		}
		b = append(b, s[start:i]...)
		switch s[i] {
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '&':
			b = append(b, "&amp;"...)
		case '"':
			b = append(b, "&quot;"...)
		}
		start = i + 1
	}
	return append(b, s[start:]...)
}

var xmlSpecial = [256]bool{'<': true, '>': true, '&': true, '"': true}

func colName(j int) string {
	s := ""
	for j++; j > 0; j = (j - 1) / 26 {
		s = string(rune('A'+(j-1)%26)) + s
	}
	return s
}

// isPlainNumber reports whether v is an integer without leading zero that
// a spreadsheet would store as a number.
func isPlainNumber(v string) bool {
	if v == "" || len(v) > 12 || (v[0] == '0' && len(v) > 1) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// renderCSV writes a semicolon-separated export with CRLF lines, as French
// office software produces, until it reaches the target size.
func renderCSV(c docContent, target int, out io.Writer) error {
	cw := &countingWriter{w: out}
	w := csv.NewWriter(cw)
	w.Comma = ';'
	w.UseCRLF = true
	if err := w.Write(c.Cols); err != nil {
		return err
	}
	for i := 0; c.MaxRows == 0 || i < c.MaxRows; i++ {
		if c.MaxRows == 0 && cw.n >= target {
			break
		}
		if err := w.Write(c.Row(i)); err != nil {
			return err
		}
		if i%64 == 63 {
			w.Flush()
		}
	}
	w.Flush()
	return w.Error()
}

// renderZIP bundles the case's files: an inventory CSV, a summary PDF and
// scanned pieces up to the target size.
func (o *Org) renderZIP(m *docMeta, c docContent, target int, out io.Writer) error {
	base := strings.TrimSuffix(m.Filename, ".zip")
	var inv bytes.Buffer
	if err := renderCSV(c, 0, &inv); err != nil {
		return err
	}
	var pdf bytes.Buffer
	if err := pdfWithText(m, c).Output(&pdf); err != nil {
		return err
	}
	z := newZipBuilder(out)
	z.file(base+"/00_bordereau.csv", true, inv.Bytes())
	z.file(base+"/01_synthese.pdf", true, pdf.Bytes())
	// JPEGs are stored, as Info-ZIP does when deflate would not shrink them.
	for i, p := range scanPages(m.key.str("scan"), target-inv.Len()/3-pdf.Len()) {
		z.file(fmt.Sprintf("%s/scans/piece_%02d.jpg", base, i+2), false, p)
	}
	return z.close()
}

// deflateRatio is how many times the zip writers' deflate shrinks s.
func deflateRatio(s []byte) float64 {
	var n countWriter
	w, _ := newFastFlate(&n)
	w.Write(s)
	w.Close()
	return float64(len(s)) / float64(max(int(n), 1))
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
