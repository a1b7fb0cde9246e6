package corpus

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"unsafe"

	"github.com/go-pdf/fpdf"
)

// renderPDF lays out c with fpdf (core fonts, cp1252) and, to reach
// target bytes, appends scanned annex pages.
func renderPDF(m *docMeta, c docContent, target int, w io.Writer) error {
	pdf := pdfWithText(m, c)
	if target > 0 {
		estimate := 4000 + 300*len(c.Paras) + 60*c.PreviewRows
		pages := scanPages(m.key.str("scan"), target-estimate)
		addScanPages(pdf, pages)
		n := 64 << 10
		for _, p := range pages {
			n += len(p) + 1024
		}
		growOutput(pdf, n)
	}
	return pdf.Output(w)
}

func pdfWithText(m *docMeta, c docContent) *fpdf.Fpdf {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(fixedTime)
	pdf.SetModificationDate(fixedTime)
	pdf.SetCatalogSort(true)
	pdf.SetCompression(true)
	pdf.SetTitle(c.Title, true)
	pdf.SetAuthor(departments[m.Dept].Name, true)
	pdf.SetCreator("Microsoft Word", false)
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-14)
		pdf.SetFont("Helvetica", "I", 7)
		pdf.SetTextColor(110, 110, 110)
		pdf.CellFormat(0, 5, tr(fmt.Sprintf("Données fictives — exercice · %s · page %d", m.Filename, pdf.PageNo())), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 11)
	pdf.CellFormat(0, 6, tr("MINISTÈRE DE L'INTÉRIEUR"), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 9)
	pdf.CellFormat(0, 5, tr(departments[m.Dept].Name), "", 1, "L", false, 0, "")
	if c.Marking != "" {
		pdf.SetTextColor(180, 0, 0)
		pdf.SetFont("Helvetica", "B", 10)
		pdf.CellFormat(0, 6, tr(c.Marking), "", 1, "R", false, 0, "")
		pdf.SetTextColor(0, 0, 0)
	}
	pdf.CellFormat(0, 6, tr("Paris, le "+frenchDate(m.Date)), "", 1, "R", false, 0, "")
	pdf.Ln(6)
	pdf.SetFont("Helvetica", "B", 15)
	pdf.MultiCell(0, 8, tr(c.Title), "", "C", false)
	if c.Subtitle != "" {
		pdf.SetFont("Helvetica", "", 11)
		pdf.MultiCell(0, 6, tr(c.Subtitle), "", "C", false)
	}
	pdf.Ln(6)
	pdf.SetFont("Helvetica", "", 10)
	for _, p := range c.Paras {
		pdf.MultiCell(0, 5, tr(p), "", "J", false)
		pdf.Ln(2)
	}
	if c.Row != nil && c.PreviewRows > 0 {
		pdf.Ln(4)
		w := 190 / float64(len(c.Cols))
		pdf.SetFont("Helvetica", "B", 8)
		pdf.SetFillColor(225, 230, 240)
		for _, col := range c.Cols {
			pdf.CellFormat(w, 6, tr(col), "1", 0, "L", true, 0, "")
		}
		pdf.Ln(-1)
		pdf.SetFont("Helvetica", "", 8)
		for i := 0; i < c.PreviewRows; i++ {
			for _, v := range c.Row(i) {
				pdf.CellFormat(w, 5, tr(clip(v, int(w/1.6))), "1", 0, "L", false, 0, "")
			}
			pdf.Ln(-1)
		}
	}
	return pdf
}

func addScanPages(pdf *fpdf.Fpdf, pages [][]byte) {
	for i, p := range pages {
		name := fmt.Sprintf("annexe%03d", i+1)
		info := pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "JPG"}, bytes.NewReader(p))
		if info == nil {
			return
		}
		pdf.AddPage()
		pdf.SetFont("Helvetica", "I", 8)
		pdf.CellFormat(0, 5, fmt.Sprintf("Annexe %d", i+1), "", 1, "L", false, 0, "")
		w, h := 190.0, 190.0*info.Height()/info.Width()
		if h > 260 {
			w, h = w*260/h, 260
		}
		pdf.ImageOptions(name, 10, 18, w, h, false, fpdf.ImageOptions{ImageType: "JPG"}, 0, "")
	}
}

// clip shortens s to n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if n < 4 || len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// pdfBufferField is where fpdf builds the whole file (Fpdf.buffer, a struct
// holding only a bytes.Buffer), found once by reflection; nil if this
// fpdf's layout is not the one expected.
var pdfBufferField = func() *reflect.StructField {
	f, ok := reflect.TypeFor[fpdf.Fpdf]().FieldByName("buffer")
	if !ok || len(f.Index) != 1 || f.Type.Kind() != reflect.Struct || f.Type.NumField() != 1 ||
		f.Type.Field(0).Type != reflect.TypeFor[bytes.Buffer]() || f.Type.Field(0).Offset != 0 {
		return nil
	}
	return &f
}()

// growOutput makes room for n bytes in the buffer fpdf writes the file
// into when it is closed. fpdf grows it by doubling as the images are
// copied in, clearing and copying each larger buffer; sized once, the
// images are copied once. Nothing changes in the output: only the
// buffer's capacity.
func growOutput(pdf *fpdf.Fpdf, n int) {
	if pdfBufferField == nil {
		return
	}
	buf := (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(pdf), pdfBufferField.Offset))
	buf.Grow(n)
}
