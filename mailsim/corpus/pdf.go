package corpus

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"reflect"
	"unsafe"

	"github.com/go-pdf/fpdf"

	"github.com/maildrill/maildrill/internal/nozero"
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
		info := registerJPEG(pdf, name, p)
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
	if buf.Len() == 0 && buf.Cap() < n {
		// Not cleared first: fpdf writes every byte before it is read.
		*buf = *bytes.NewBuffer(nozero.Bytes(n)[:0])
		return
	}
	buf.Grow(n)
}

// imageInfo is what registerJPEG needs of fpdf.ImageInfoType, checked once
// by reflection: the offsets of the image's bytes (data) and of its
// identity (i, the SHA-1 by which fpdf names and de-duplicates images), and
// that the fields generateImageID hashes are the ones expected; nil if this
// fpdf's layout is not the one expected.
var imageInfo = func() *struct{ data, id uintptr } {
	t := reflect.TypeFor[fpdf.ImageInfoType]()
	want := []struct {
		name string
		kind reflect.Kind
	}{{"data", reflect.Slice}, {"smask", reflect.Slice}, {"n", reflect.Int}, {"w", reflect.Float64}, {"h", reflect.Float64},
		{"cs", reflect.String}, {"pal", reflect.Slice}, {"bpc", reflect.Int}, {"f", reflect.String}, {"dp", reflect.String},
		{"trns", reflect.Slice}, {"scale", reflect.Float64}, {"dpi", reflect.Float64}, {"i", reflect.String}}
	if t.NumField() != len(want) {
		return nil
	}
	for k, w := range want {
		if f := t.Field(k); f.Name != w.name || f.Type.Kind() != w.kind {
			return nil
		}
	}
	if t.Field(0).Type != reflect.TypeFor[[]byte]() {
		return nil
	}
	return &struct{ data, id uintptr }{t.Field(0).Offset, t.Field(13).Offset}
}()

// registerJPEG registers the JPEG p as image name, as
// RegisterImageOptionsReader does from a reader over p, without the copy
// fpdf makes of it (read into a buffer grown by doubling): fpdf parses the
// headers (up to the scan) and the image then holds p itself, under the
// identity fpdf would have given it. The resulting file is the same.
func registerJPEG(pdf *fpdf.Fpdf, name string, p []byte) *fpdf.ImageInfoType {
	opt := fpdf.ImageOptions{ImageType: "JPG"}
	hdr := jpegHeaderLen(p)
	if imageInfo == nil || hdr <= 0 {
		return pdf.RegisterImageOptionsReader(name, opt, bytes.NewReader(p))
	}
	info := pdf.RegisterImageOptionsReader(name, opt, bytes.NewReader(p[:hdr]))
	if info == nil {
		return nil
	}
	base := unsafe.Pointer(info)
	*(*[]byte)(unsafe.Add(base, imageInfo.data)) = p
	*(*string)(unsafe.Add(base, imageInfo.id)) = imageID(info)
	return info
}

// jpegHeaderLen is the length of p's markers up to the end of its SOS
// segment (what image/jpeg's DecodeConfig reads), or 0.
func jpegHeaderLen(p []byte) int {
	if len(p) < 4 || p[0] != 0xFF || p[1] != 0xD8 {
		return 0
	}
	for i := 2; i+4 <= len(p) && p[i] == 0xFF; {
		end := i + 2 + (int(p[i+2])<<8 | int(p[i+3]))
		if p[i+1] == 0xDA {
			if end > len(p) {
				return 0
			}
			return end
		}
		i = end
	}
	return 0
}

// imageID is fpdf's generateImageID (v0.9.0) for info, its identity not yet
// set: the SHA-1 of its fields, numbers as 8 little-endian bytes.
func imageID(info *fpdf.ImageInfoType) string {
	v := reflect.ValueOf(info).Elem()
	h := sha1.New()
	var b [8]byte
	u64 := func(x uint64) {
		binary.LittleEndian.PutUint64(b[:], x)
		h.Write(b[:])
	}
	for k := 0; k < v.NumField()-1; k++ { // all but i, empty until now
		f := v.Field(k)
		switch f.Kind() {
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.Uint8 {
				h.Write(unsafe.Slice((*byte)(f.UnsafePointer()), f.Len()))
			} else {
				for j := 0; j < f.Len(); j++ {
					u64(uint64(f.Index(j).Int()))
				}
			}
		case reflect.Int:
			u64(uint64(f.Int()))
		case reflect.Float64:
			u64(math.Float64bits(f.Float()))
		case reflect.String:
			h.Write([]byte(f.String()))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
