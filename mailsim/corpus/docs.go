package corpus

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Attachments come from a bounded pool: each document type has docVariants
// variants, each a pure function of (seed, type, variant). Messages pick a
// variant, so the same document may travel in many messages (as forwarded
// documents do), and the pool is what the cache holds.
const docVariants = 32

// docType is a kind of document the ministry circulates.
type docType struct {
	id     string
	format string // pdf, docx, xlsx, csv, zip
	depts  []string
	small  float64 // share of variants under 20 KB
	large  float64 // share of variants of 5–15 MB
	// fixedSize: the content is what it is (a directory extract); no target.
	fixedSize bool
	name      func(m *docMeta) string
	content   func(o *Org, m *docMeta) docContent
}

// docMeta is what a message needs to know of a document without generating it.
type docMeta struct {
	typ      int
	variant  int
	key      key
	Date     time.Time
	Year     int
	Seq      int
	Number   string // "2025-0142"
	Dept     int
	City     string
	Target   int // planned size in bytes
	Filename string
}

// docContent is a format-neutral document: the PDF, DOCX, XLSX, CSV and ZIP
// writers render it.
type docContent struct {
	Title, Subtitle string
	Marking         string // "DIFFUSION RESTREINTE" or ""
	Paras           []string
	Cols            []string
	Row             func(i int) []string // the i-th table row, nil when no table
	MaxRows         int                  // rows available (0: unbounded)
	PreviewRows     int                  // rows shown in PDF and DOCX
}

// AttachmentTypes lists, sorted, the file types (extensions without the
// dot) of the attachments the organisation's mail carries.
func AttachmentTypes() []string {
	var out []string
	for _, d := range docTypes {
		if !slices.Contains(out, d.format) {
			out = append(out, d.format)
		}
	}
	slices.Sort(out)
	return out
}

var mimeTypes = map[string]string{
	"pdf":  "application/pdf",
	"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"csv":  "text/csv",
	"zip":  "application/zip",
}

func (o *Org) docMeta(typ, variant int) docMeta {
	dt := &docTypes[typ]
	k := o.key.str("doc").str(dt.id).num(uint64(variant))
	r := k.rng()
	m := docMeta{typ: typ, variant: variant, key: k}
	span := o.cfg.End.Sub(o.start)
	m.Date = o.start.Add(time.Duration(r.float() * float64(span)))
	m.Year = paris(m.Date).Year()
	m.Seq = 1 + r.intn(60)
	m.Number = fmt.Sprintf("%d-%04d", m.Year, 1+r.intn(2400))
	if len(dt.depts) > 0 {
		m.Dept = deptIndex(pick(&r, dt.depts))
	} else {
		m.Dept = 1 + r.intn(len(departments)-1)
	}
	m.City = pick(&r, cities)
	// Stratified sizes: variant v gets quantile (perm(v)+0.5)/N of the
	// type's distribution, so every pool has the same size profile.
	perm := o.key.str("docsize").str(dt.id).rng()
	q := (float64(perm.perm(docVariants)[variant]) + 0.5) / docVariants
	m.Target = int(sizeQuantile(q, dt.small, dt.large))
	if m.Target > o.cfg.MaxAttachmentSize {
		m.Target = o.cfg.MaxAttachmentSize
	}
	m.Filename = dt.name(&m)
	return m
}

func logUniform(lo, hi, u float64) float64 { return lo * math.Pow(hi/lo, u) }

func sizeQuantile(q, small, large float64) float64 {
	switch {
	case q < small:
		return logUniform(4<<10, 20<<10, q/small)
	case q > 1-large:
		return logUniform(5<<20, 15<<20, (q-(1-large))/large)
	default:
		return logUniform(20<<10, 2<<20, (q-small)/(1-small-large))
	}
}

// document returns the encoded document, from the cache, from the disk
// cache or freshly made.
func (o *Org) document(m *docMeta) (*encodedDoc, error) {
	d, _, err := o.loadDocument(m, true)
	return d, err
}

// loadDocument is document; without wait, a document another goroutine is
// making is not waited for: it returns false at once.
func (o *Org) loadDocument(m *docMeta, wait bool) (*encodedDoc, bool, error) {
	load := func() (*encodedDoc, error) {
		if o.disk != nil {
			if d, ok := o.disk.read(m); ok {
				o.diskReads.Add(1)
				return d, nil
			}
		}
		// Rendered straight into its cached form.
		hint := 64 << 10
		switch {
		case docTypes[m.typ].format == "xlsx":
			// A sheet's size is known only when it ends: its rows stop
			// at the plan as estimated from the compression of the
			// first ones, and it comes out at 0.6 to 1.6 times the plan.
			// The sink's first piece is about the least it comes to;
			// further pieces are added as it grows.
			hint = m.Target * 6 / 10
		case !docTypes[m.typ].fixedSize:
			hint = m.Target + m.Target/32 + 4096
		}
		s := newDocSink(hint)
		if err := o.renderDocTo(m, s); err != nil {
			return nil, err
		}
		o.generated.Add(1)
		d := s.doc()
		if o.disk != nil {
			o.disk.write(m, d)
		}
		return d, nil
	}
	id := docID{m.typ, m.variant}
	d, ok, err := o.docs.TryGet(id, load)
	if wait && !ok && err == nil {
		d, err = o.docs.Get(id, load)
		ok = true
	}
	if err == nil && ok {
		if _, held := o.docSizes.Load(id); !held {
			o.docSizes.Store(id, &encodedDoc{size: d.size, sha256: d.sha256})
		}
	}
	return d, ok, err
}

// docSummary returns a document's decoded size and digest (no b64), from
// memory once the document was produced, else from the disk cache's
// header, else by producing it.
func (o *Org) docSummary(m *docMeta) (*encodedDoc, error) {
	if v, ok := o.docSizes.Load(docID{m.typ, m.variant}); ok {
		return v.(*encodedDoc), nil
	}
	if o.disk != nil {
		if d, ok := o.disk.readSummary(m); ok {
			o.docSizes.Store(docID{m.typ, m.variant}, d)
			return d, nil
		}
	}
	if _, err := o.document(m); err != nil {
		return nil, err
	}
	v, _ := o.docSizes.Load(docID{m.typ, m.variant})
	return v.(*encodedDoc), nil
}

// renderDoc renders a document whole (the cache renders into a docSink
// instead).
func (o *Org) renderDoc(m *docMeta) ([]byte, error) {
	var buf bytes.Buffer
	if !docTypes[m.typ].fixedSize {
		buf.Grow(m.Target + m.Target/16 + 4096)
	}
	if err := o.renderDocTo(m, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// renderDocTo renders a document into w.
func (o *Org) renderDocTo(m *docMeta, w io.Writer) error {
	dt := &docTypes[m.typ]
	c := dt.content(o, m)
	target := m.Target
	if dt.fixedSize {
		target = 0
	}
	var err error
	switch dt.format {
	case "pdf":
		err = renderPDF(m, c, target, w)
	case "docx":
		err = renderDOCX(m, c, target, w)
	case "xlsx":
		err = renderXLSX(m, c, target, w)
	case "csv":
		err = renderCSV(c, target, w)
	case "zip":
		err = o.renderZIP(m, c, target, w)
	default:
		err = fmt.Errorf("unknown format %q", dt.format)
	}
	if err != nil {
		return fmt.Errorf("corpus: generating %s: %w", m.Filename, err)
	}
	return nil
}

func docTypeIndex(id string) int {
	for i, d := range docTypes {
		if d.id == id {
			return i
		}
	}
	panic("corpus: unknown document type " + id)
}

// fixedTime is the creation date written into every generated file's
// metadata, for determinism.
var fixedTime = time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)

func ym(t time.Time) string { return paris(t).Format("2006-01") }

// a personName draws an invented person for tables (not a directory user).
func personName(r *rng) (given, surname string, g byte) {
	if r.chance(0.5) {
		return pick(r, givenFemale), pick(r, surnames), 'F'
	}
	return pick(r, givenMale), pick(r, surnames), 'M'
}

var (
	grades = []string{"Attaché principal", "Attaché", "Secrétaire administratif de classe normale", "Secrétaire administratif de classe supérieure",
		"Adjoint administratif principal", "Ingénieur des systèmes d'information", "Technicien SIC", "Commandant", "Capitaine", "Brigadier-chef", "Contractuel A", "Contractuel B"}
	corps       = []string{"Attachés d'administration de l'État", "Secrétaires administratifs", "Adjoints administratifs", "Ingénieurs SIC", "Techniciens SIC", "Corps de commandement", "Contractuels"}
	infractions = []string{"Vol simple", "Escroquerie", "Violences volontaires", "Dégradation de bien public", "Usage de stupéfiants",
		"Outrage à personne dépositaire de l'autorité publique", "Rébellion", "Conduite sans permis", "Cambriolage", "Fraude documentaire",
		"Menaces de mort", "Harcèlement en ligne", "Recel", "Port d'arme prohibé", "Trafic de stupéfiants"}
	services = []string{"Commissariat central", "Brigade de sûreté urbaine", "Service départemental de police judiciaire", "Brigade anticriminalité",
		"Groupement de gendarmerie départementale", "Office central de lutte contre la délinquance", "Sûreté départementale"}
	applications = []string{"Messagerie", "VPN nomade", "Intranet", "GED Courrier", "Logiciel paie", "Annuaire LDAP", "Application titres de séjour",
		"Fichier des véhicules", "Outil de gestion des crises", "Console d'administration AD", "Portail RH", "Plateforme de signalement"}
	profiles   = []string{"Lecture", "Rédacteur", "Valideur", "Administrateur", "Super-administrateur", "Consultation restreinte"}
	notesObjet = []string{"organisation des permanences de fin d'année", "règles d'usage de la messagerie et des équipements nomades",
		"mise en œuvre du télétravail", "procédure de gestion des congés annuels", "renforcement de la sécurité des accès au SI",
		"circuit de validation des courriers signalés", "plan de continuité d'activité", "campagne d'entretiens professionnels",
		"modalités d'accès aux locaux", "classement et archivage des dossiers"}
	arreteObjet = []string{"portant interdiction d'une manifestation sur la voie publique", "portant fermeture administrative d'un établissement",
		"portant délégation de signature", "portant organisation des services", "portant nomination au comité de sélection",
		"relatif aux mesures de sécurité aux abords du site", "portant réquisition de personnels"}
	reflexeThemes = []string{"crise_cyber", "rancongiciel", "fuite_de_donnees", "intrusion_physique", "alerte_attentat", "inondation", "panne_messagerie"}
	crTopics      = []string{"comite_direction", "point_hebdo", "reunion_securite_SI", "cellule_crise", "dialogue_social", "comite_budget", "reunion_prefets"}
)

func pad2(n int) string { return zpad(n, 2) }

// zpad formats n ≥ 0 in decimal with at least w digits, like %0*d.
func zpad(n, w int) string {
	var b [20]byte
	d := strconv.AppendInt(b[:0], int64(n), 10)
	if len(d) >= w {
		return string(d)
	}
	return strings.Repeat("0", w-len(d)) + string(d)
}

// dmy formats a date as dd/mm/yyyy.
func dmy(d, m, y int) string { return zpad(d, 2) + "/" + zpad(m, 2) + "/" + itoa(y) }

// phone appends two random pairs of digits to prefix ("+33 1 99 00 ").
func phone(prefix string, r *rng) string {
	a := r.intn(100)
	return prefix + zpad(a, 2) + " " + zpad(r.intn(100), 2)
}

var docTypes = []docType{
	{id: "signalement", format: "pdf", depts: []string{"DGPN", "DCSI", "DLPAJ"}, small: 0.04, large: 0.04,
		name: func(m *docMeta) string { return "dossier_" + m.Number + "_signalement.pdf" },
		content: func(o *Org, m *docMeta) docContent {
			r := m.key.str("content").rng()
			g, s, _ := personName(&r)
			rows := [][]string{
				{"Numéro de dossier", m.Number},
				{"Date de saisine", frenchDate(m.Date)},
				{"Service saisi", pick(&r, services) + " de " + m.City},
				{"Personne signalée", strings.ToUpper(s) + " " + g},
				{"Date de naissance", fmt.Sprintf("%02d/%02d/%d", 1+r.intn(28), 1+r.intn(12), 1960+r.intn(45))},
				{"Nature des faits", pick(&r, infractions)},
				{"Lieu des faits", m.City},
				{"Niveau de priorité", pick(&r, []string{"Normal", "Élevé", "Urgent"})},
				{"Suite proposée", pick(&r, []string{"Transmission au parquet", "Enquête administrative", "Classement", "Complément d'information demandé"})},
				{"Rédacteur", o.users[o.memberOf(m.Dept, &r)].Name},
			}
			return docContent{
				Title:    "Fiche de signalement — dossier n° " + m.Number,
				Subtitle: departments[m.Dept].Name,
				Marking:  "DIFFUSION RESTREINTE",
				Paras: []string{
					"La présente fiche rend compte des éléments portés à la connaissance du service et des premières mesures prises.",
					"Les pièces jointes (procès-verbaux, copies de documents) figurent en annexe. Toute communication à un tiers est soumise à l'accord préalable du chef de service.",
				},
				Cols: []string{"Rubrique", "Information"}, Row: func(i int) []string { return rows[i] }, MaxRows: len(rows), PreviewRows: len(rows),
			}
		}},
	{id: "note_service", format: "docx", depts: []string{"SG", "DRH", "SSI", "CAB"}, small: 0.1, large: 0.02,
		name: func(m *docMeta) string { return fmt.Sprintf("note_de_service_%d-%s.docx", m.Year, pad2(m.Seq)) },
		content: func(o *Org, m *docMeta) docContent {
			r := m.key.str("content").rng()
			objet := pick(&r, notesObjet)
			return docContent{
				Title:    fmt.Sprintf("Note de service n° %d-%s", m.Year, pad2(m.Seq)),
				Subtitle: "Objet : " + objet,
				Paras: []string{
					"La présente note a pour objet de préciser les modalités relatives à la " + objet + " au sein de la " + departments[m.Dept].Name + ".",
					"Elle s'applique à l'ensemble des agents titulaires et contractuels, ainsi qu'aux personnels mis à disposition.",
					"Les chefs de bureau veillent à sa diffusion auprès de leurs équipes et à sa bonne application. Toute difficulté est signalée au secrétariat général.",
					"La note de service n° " + fmt.Sprintf("%d-%s", m.Year-1, pad2(m.Seq)) + " est abrogée.",
				},
			}
		}},
	{id: "liste_personnel", format: "xlsx", depts: []string{"DLPAJ", "DGPN", "SG", "DRH", "SSI", "DGEF", "DCSI"}, small: 0.05, large: 0.03,
		name: func(m *docMeta) string { return "liste_personnel_" + departments[m.Dept].Code + ".xlsx" },
		content: func(o *Org, m *docMeta) docContent {
			return docContent{Title: "Liste du personnel — " + departments[m.Dept].Name,
				Cols: []string{"Matricule", "Nom", "Prénom", "Grade", "Corps", "Service", "Date d'entrée", "Quotité", "Téléphone", "Courriel"},
				Row:  o.personnelRows(m)}
		}},
	{id: "budget", format: "xlsx", depts: []string{"DFA", "SG"}, small: 0.05, large: 0.02,
		name: func(m *docMeta) string {
			return fmt.Sprintf("budget_BOP%d_%d.xlsx", []int{176, 216, 161, 303, 307, 354}[m.Seq%6], m.Year+1)
		},
		content: func(o *Org, m *docMeta) docContent {
			return docContent{Title: fmt.Sprintf("Programmation budgétaire %d", m.Year+1),
				Cols: []string{"Programme", "Action", "Sous-action", "Centre de coût", "Libellé", "AE (€)", "CP (€)", "Consommé (€)", "Taux"},
				Row: func(i int) []string {
					r := m.key.num(uint64(i)).rng()
					ae := 5000 + r.intn(2_000_000)
					cp := ae * (70 + r.intn(30)) / 100
					cons := cp * r.intn(101) / 100
					return []string{itoa([]int{176, 216, 161, 303, 307, 354}[m.Seq%6]), zpad(1+r.intn(12), 2), zpad(1+r.intn(9), 2) + "." + zpad(1+r.intn(20), 2),
						"CC" + zpad(r.intn(10000), 4), pick(&r, []string{"Fonctionnement courant", "Immobilier", "Informatique", "Formation", "Déplacements", "Équipements", "Subventions", "Maintenance"}),
						itoa(ae), itoa(cp), itoa(cons), fmt.Sprintf("%.1f%%", float64(cons)*100/float64(max(cp, 1)))}
				}}
		}},
	{id: "extraction_taj", format: "csv", depts: []string{"DGPN", "DCSI"}, small: 0.1, large: 0.03,
		name: func(m *docMeta) string { return "extraction_TAJ_" + ym(m.Date) + ".csv" },
		content: func(o *Org, m *docMeta) docContent {
			return docContent{Cols: []string{"id_fiche", "nom", "prenom", "date_naissance", "lieu_naissance", "qualification", "date_faits", "service", "statut"},
				Row: func(i int) []string {
					r := m.key.num(uint64(i)).rng()
					g, s, _ := personName(&r)
					return []string{"TAJ-" + itoa(m.Year) + "-" + zpad(r.intn(10_000_000), 7), strings.ToUpper(s), g,
						dmy(1+r.intn(28), 1+r.intn(12), 1950+r.intn(57)), pick(&r, cities), pick(&r, infractions),
						dmy(1+r.intn(28), 1+r.intn(12), m.Year-r.intn(6)), pick(&r, services), pick(&r, []string{"mis en cause", "victime", "témoin", "mis en cause"})}
				}}
		}},
	{id: "pieces_dossier", format: "zip", depts: []string{"DLPAJ", "DGPN", "DGEF"}, small: 0.0, large: 0.1,
		name: func(m *docMeta) string { return "pieces_dossier_" + m.Number + ".zip" },
		content: func(o *Org, m *docMeta) docContent {
			return docContent{Title: "Pièces du dossier " + m.Number, Cols: []string{"n°", "pièce", "date", "pages"},
				Row: func(i int) []string {
					r := m.key.num(uint64(i)).rng()
					return []string{itoa(i + 1), pick(&r, []string{"Procès-verbal d'audition", "Courrier de saisine", "Copie de pièce d'identité", "Rapport de synthèse", "Mémoire en défense", "Requête", "Photographies"}),
						frenchDate(m.Date.AddDate(0, 0, -r.intn(90))), itoa(1 + r.intn(12))}
				}, MaxRows: 12, PreviewRows: 12}
		}},
	{id: "compte_rendu", format: "docx", small: 0.1, large: 0.02,
		name: func(m *docMeta) string {
			r := m.key.str("name").rng()
			return "CR_" + pick(&r, crTopics) + "_" + paris(m.Date).Format("2006-01-02") + ".docx"
		},
		content: func(o *Org, m *docMeta) docContent {
			r := m.key.str("content").rng()
			var present []string
			for i := 0; i < 6; i++ {
				present = append(present, o.users[o.memberOf(m.Dept, &r)].Name)
			}
			return docContent{Title: "Compte rendu de réunion du " + frenchDate(m.Date), Subtitle: departments[m.Dept].Name,
				Paras: []string{
					"Présents : " + strings.Join(present, ", ") + ".",
					"1. Point de situation. Le chef de service rappelle les échéances du mois et les dossiers prioritaires.",
					"2. Sécurité des systèmes d'information. Les agents sont invités à ne jamais communiquer leurs identifiants, y compris au support informatique.",
					"3. Questions diverses. La prochaine réunion se tiendra à la même heure la semaine prochaine.",
					"Relevé de décisions : validation du calendrier ; diffusion de la note aux bureaux ; point d'étape à l'issue du trimestre.",
				}}
		}},
	{id: "arrete", format: "pdf", depts: []string{"DLPAJ", "SG", "CAB"}, small: 0.15, large: 0.02,
		name: func(m *docMeta) string { return fmt.Sprintf("arrete_%d-%04d.pdf", m.Year, 100+m.Seq*17) },
		content: func(o *Org, m *docMeta) docContent {
			r := m.key.str("content").rng()
			objet := pick(&r, arreteObjet)
			return docContent{Title: fmt.Sprintf("Arrêté n° %d-%04d", m.Year, 100+m.Seq*17), Subtitle: objet,
				Paras: []string{
					"Le ministre de l'Intérieur,",
					"Vu le code de la sécurité intérieure ;",
					"Vu le code des relations entre le public et l'administration ;",
					"Considérant les éléments portés à la connaissance de l'administration concernant la commune de " + m.City + " ;",
					"Arrête :",
					"Article 1er — Il est procédé aux mesures visées en objet à compter du " + frenchDate(m.Date) + ".",
					"Article 2 — Le présent arrêté peut faire l'objet d'un recours devant le tribunal administratif dans un délai de deux mois.",
					"Article 3 — Le directeur des libertés publiques et des affaires juridiques est chargé de l'exécution du présent arrêté.",
				}}
		}},
	{id: "rapport_inspection", format: "pdf", depts: []string{"IGA"}, small: 0.0, large: 0.06,
		name: func(m *docMeta) string {
			return fmt.Sprintf("rapport_IGA_%d-%03d_%s.pdf", m.Year, m.Seq, asciiLocal(m.City))
		},
		content: func(o *Org, m *docMeta) docContent {
			return docContent{Title: fmt.Sprintf("Rapport d'inspection n° %d-%03d", m.Year, m.Seq), Subtitle: "Contrôle de fonctionnement — services de " + m.City,
				Marking: "DIFFUSION RESTREINTE",
				Paras: []string{
					"Synthèse. La mission a constaté un fonctionnement globalement satisfaisant, mais relève des fragilités dans la gestion des habilitations et la conservation des données.",
					"Recommandation n° 1 : revoir trimestriellement les droits d'accès aux applications sensibles.",
					"Recommandation n° 2 : généraliser l'authentification forte pour les accès distants à la messagerie.",
					"Recommandation n° 3 : formaliser la procédure de délégation des boîtes aux lettres de direction.",
					"Les annexes comprennent les pièces examinées et les réponses du service contrôlé.",
				},
				Cols: []string{"Recommandation", "Responsable", "Échéance", "Priorité"},
				Row: func(i int) []string {
					r := m.key.num(uint64(i)).rng()
					return []string{fmt.Sprintf("R%d", i+1), pick(&r, []string{"Secrétariat général", "SSI", "DRH", "Préfecture"}), frenchDate(m.Date.AddDate(0, 3+r.intn(9), 0)), pick(&r, []string{"1", "2", "3"})}
				}, MaxRows: 8, PreviewRows: 8}
		}},
	{id: "habilitations", format: "xlsx", depts: []string{"SSI"}, small: 0.1, large: 0.0,
		name: func(m *docMeta) string {
			return fmt.Sprintf("habilitations_SI_%d-T%d.xlsx", m.Year, 1+int(paris(m.Date).Month()-1)/3)
		},
		content: func(o *Org, m *docMeta) docContent {
			return docContent{Title: "Revue des habilitations",
				Cols: []string{"Identifiant", "Nom", "Service", "Application", "Profil", "Date d'attribution", "Valideur"},
				Row: func(i int) []string {
					r := m.key.num(uint64(i)).rng()
					u := &o.users[i%o.nPerson]
					return []string{strings.Split(u.Address, "@")[0], u.Name, departments[u.dept].Code, pick(&r, applications), pick(&r, profiles),
						frenchDate(o.start.AddDate(-r.intn(4), 0, -r.intn(365))), o.users[o.memberOf(deptIndex("SSI"), &r)].Name}
				}}
		}},
	{id: "annuaire", format: "csv", fixedSize: true,
		name: func(m *docMeta) string { return fmt.Sprintf("annuaire_%s_%d.csv", departments[m.Dept].Code, m.Year) },
		content: func(o *Org, m *docMeta) docContent {
			members := o.byDept[m.Dept]
			if len(members) > 5000 {
				members = members[:5000]
			}
			return docContent{Cols: []string{"nom", "prenom", "fonction", "service", "telephone", "courriel"},
				Row: func(i int) []string {
					u := &o.users[members[i]]
					return []string{strings.ToUpper(u.Surname), u.GivenName, u.Title, departments[u.dept].Code, u.Phone, u.Address}
				}, MaxRows: len(members)}
		}},
	{id: "planning_permanences", format: "xlsx", depts: []string{"DGSCGC", "CAB", "SSI", "DGPN"}, small: 0.3, large: 0.0,
		name: func(m *docMeta) string {
			t := paris(m.Date)
			return fmt.Sprintf("planning_permanences_%s_%d.xlsx", frenchMonths[t.Month()-1], t.Year())
		},
		content: func(o *Org, m *docMeta) docContent {
			return docContent{Title: "Planning des permanences",
				Cols: []string{"Date", "Créneau", "Agent", "Téléphone d'astreinte", "Suppléant"},
				Row: func(i int) []string {
					r := m.key.num(uint64(i)).rng()
					return []string{frenchDate(m.Date.AddDate(0, 0, i/3)), []string{"08h-16h", "16h-24h", "00h-08h"}[i%3],
						o.users[o.memberOf(m.Dept, &r)].Name, phone("+33 6 39 98 ", &r), o.users[o.memberOf(m.Dept, &r)].Name}
				}}
		}},
	{id: "journaux_vpn", format: "csv", depts: []string{"SSI"}, small: 0.05, large: 0.06,
		name: func(m *docMeta) string { return "export_journaux_VPN_" + ym(m.Date) + ".csv" },
		content: func(o *Org, m *docMeta) docContent {
			return docContent{Cols: []string{"horodatage", "utilisateur", "ip_source", "passerelle", "duree_s", "octets_recus", "octets_emis", "resultat"},
				Row: func(i int) []string {
					r := m.key.num(uint64(i)).rng()
					u := &o.users[r.intn(o.nPerson)]
					t := m.Date.Add(time.Duration(i) * 37 * time.Second)
					return []string{paris(t).Format("2006-01-02T15:04:05-07:00"), strings.Split(u.Address, "@")[0],
						pick(&r, []string{"198.51.100", "203.0.113", "192.0.2"}) + "." + itoa(1+r.intn(254)), pick(&r, []string{"vpn-gw1", "vpn-gw2"}),
						itoa(r.intn(30000)), itoa(r.intn(900_000_000)), itoa(r.intn(90_000_000)), pick(&r, []string{"succes", "succes", "succes", "echec_mdp", "echec_certificat"})}
				}}
		}},
	{id: "fiche_reflexe", format: "pdf", depts: []string{"SSI", "DGSCGC", "CAB"}, small: 0.2, large: 0.0,
		name: func(m *docMeta) string {
			r := m.key.str("name").rng()
			return fmt.Sprintf("fiche_reflexe_%s_v%d.pdf", pick(&r, reflexeThemes), 1+m.Seq%5)
		},
		content: func(o *Org, m *docMeta) docContent {
			return docContent{Title: "Fiche réflexe", Subtitle: departments[m.Dept].Name,
				Paras: []string{
					"1. Alerter immédiatement la permanence opérationnelle et le responsable de la sécurité des systèmes d'information.",
					"2. Ne pas éteindre les postes concernés ; les isoler du réseau en débranchant le câble.",
					"3. Consigner l'heure et la nature des constats dans la main courante.",
					"4. Ne communiquer aucune information à l'extérieur sans validation du cabinet.",
					"5. Préparer la liste des personnes à joindre (annuaire de crise en annexe).",
				}}
		}},
	{id: "dce_marche", format: "zip", depts: []string{"DFA"}, small: 0.0, large: 0.1,
		name: func(m *docMeta) string { return fmt.Sprintf("DCE_marche_%d-%03d.zip", m.Year, m.Seq*3) },
		content: func(o *Org, m *docMeta) docContent {
			return docContent{Title: fmt.Sprintf("Dossier de consultation — marché n° %d-%03d", m.Year, m.Seq*3), Cols: []string{"lot", "designation", "quantite", "prix_unitaire_ht"},
				Row: func(i int) []string {
					r := m.key.num(uint64(i)).rng()
					return []string{itoa(1 + i%4), pick(&r, []string{"Postes de travail", "Maintenance serveurs", "Licences logicielles", "Prestations d'infogérance", "Équipements réseau", "Audit de sécurité"}),
						itoa(1 + r.intn(500)), itoa(10+r.intn(5000)) + "," + zpad(r.intn(100), 2)}
				}, MaxRows: 40, PreviewRows: 20}
		}},
	{id: "projet_reponse", format: "docx", depts: []string{"CAB", "DLPAJ", "DGEF", "SG"}, small: 0.2, large: 0.0,
		name: func(m *docMeta) string { return "projet_reponse_courrier_" + m.Number + ".docx" },
		content: func(o *Org, m *docMeta) docContent {
			r := m.key.str("content").rng()
			g, s, sex := personName(&r)
			civ := "Monsieur"
			if sex == 'F' {
				civ = "Madame"
			}
			return docContent{Title: "Projet de réponse", Subtitle: "Courrier n° " + m.Number + " — " + civ + " " + g + " " + s,
				Paras: []string{
					civ + ",",
					"Vous avez bien voulu appeler l'attention du ministre sur la situation que vous rencontrez à " + m.City + ".",
					"J'ai l'honneur de vous informer que votre demande a fait l'objet d'un examen attentif par les services compétents.",
					"Je vous prie d'agréer, " + civ + ", l'expression de ma considération distinguée.",
				}}
		}},
	{id: "note_synthese", format: "docx", depts: []string{"DCSI", "DGPN", "CAB"}, small: 0.1, large: 0.02,
		name: func(m *docMeta) string { return fmt.Sprintf("note_synthèse_%d-%03d_DR.docx", m.Year, m.Seq*2) },
		content: func(o *Org, m *docMeta) docContent {
			return docContent{Title: fmt.Sprintf("Note de synthèse n° %d-%03d", m.Year, m.Seq*2), Subtitle: "Situation dans le ressort de " + m.City,
				Marking: "DIFFUSION RESTREINTE",
				Paras: []string{
					"Résumé. Les remontées des services font état d'une hausse des signalements au cours du dernier mois.",
					"Analyse. Les faits se concentrent sur quelques quartiers ; les services territoriaux ont renforcé leur présence.",
					"Perspectives. Une réunion de coordination avec la préfecture est proposée avant la fin du mois.",
				}}
		}},
	{id: "stats_sejour", format: "xlsx", depts: []string{"DGEF"}, small: 0.1, large: 0.0,
		name: func(m *docMeta) string { return "statistiques_titres_sejour_" + ym(m.Date) + ".xlsx" },
		content: func(o *Org, m *docMeta) docContent {
			return docContent{Title: "Statistiques des titres de séjour",
				Cols: []string{"Préfecture", "Mois", "Demandes", "Délivrés", "Refus", "Délai moyen (j)"},
				Row: func(i int) []string {
					r := m.key.num(uint64(i)).rng()
					d := 100 + r.intn(5000)
					return []string{"Préfecture de " + pick(&r, cities), ym(m.Date.AddDate(0, -(i / len(cities)), 0)), itoa(d), itoa(d * (50 + r.intn(45)) / 100), itoa(d * r.intn(20) / 100), itoa(20 + r.intn(120))}
				}}
		}},
}

// memberOf draws a personal user of department d (any user if d is empty).
func (o *Org) memberOf(d int, r *rng) int {
	if d >= 0 && d < len(o.byDept) && len(o.byDept[d]) > 0 {
		return pick(r, o.byDept[d])
	}
	return r.intn(o.nPerson)
}

// personnelRows lists the department's directory users first, then
// invented staff without a mailbox.
func (o *Org) personnelRows(m *docMeta) func(i int) []string {
	members := o.byDept[m.Dept]
	return func(i int) []string {
		r := m.key.num(uint64(i)).rng()
		mat := zpad(r.intn(10_000_000), 7)
		entry := dmy(1+r.intn(28), 1+r.intn(12), 1985+r.intn(40))
		quot := pick(&r, []string{"100%", "100%", "100%", "80%", "90%", "50%"})
		if i < len(members) {
			u := &o.users[members[i]]
			return []string{mat, strings.ToUpper(u.Surname), u.GivenName, pick(&r, grades), pick(&r, corps), departments[u.dept].Code, entry, quot, u.Phone, u.Address}
		}
		g, s, _ := personName(&r)
		return []string{mat, strings.ToUpper(s), g, pick(&r, grades), pick(&r, corps), departments[m.Dept].Code, entry, quot,
			phone("+33 1 99 00 ", &r), ""}
	}
}
