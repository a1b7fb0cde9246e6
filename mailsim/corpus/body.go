package corpus

import (
	"strings"
	"time"
)

// paragraphs of thread position p: the topic's opening for the first
// message, replies after. Drawn from the thread's key so that a later
// message quotes exactly what the earlier one said.
func (th *thread) paragraphs(p int) []string {
	r := th.key.num(uint64(p)).str("body").rng()
	var src []string
	n := 1
	if p == 0 {
		src, n = th.topic.opens, 2+r.intn(2)
	} else {
		src, n = th.topic.replies, 1+r.intn(2)
	}
	n = min(n, len(src))
	var out []string
	if p == 0 {
		// The opening paragraph first, then others in their order.
		out = append(out, th.vars.Replace(src[0]))
		keep := make([]bool, len(src))
		for _, k := range r.perm(len(src) - 1)[:n-1] {
			keep[k+1] = true
		}
		for i := 1; i < len(src); i++ {
			if keep[i] {
				out = append(out, th.vars.Replace(src[i]))
			}
		}
		return out
	}
	start := r.intn(len(src))
	for i := 0; i < n; i++ {
		out = append(out, th.vars.Replace(src[(start+i)%len(src)]))
	}
	return out
}

func civility(p *person) string {
	if p.gender == 'F' {
		return "Madame"
	}
	return "Monsieur"
}

func (o *Org) bodyText(th *thread, fs folderSpec, pos int, from *person, to []*person, docs []docMeta, r *rng, sent time.Time) string {
	var b strings.Builder
	rcpt := to[0]
	switch {
	case !rcpt.internal && rcpt.kind == "lawyer":
		b.WriteString("Maître,")
	case !rcpt.internal || !from.internal && from.kind != "press" && from.kind != "vendor":
		if r.chance(0.5) {
			b.WriteString(civility(rcpt) + ",")
		} else {
			b.WriteString("Madame, Monsieur,")
		}
	case len(to) > 1:
		b.WriteString("Bonjour à tous,")
	case !from.internal:
		b.WriteString("Bonjour " + civility(rcpt) + ",")
	default:
		b.WriteString(pick(r, []string{"Bonjour ", "Bonjour ", "Bonjour ", "Cher ", ""}))
		if strings.HasSuffix(b.String(), "Cher ") && rcpt.gender == 'F' {
			b.Reset()
			b.WriteString("Chère ")
		}
		b.WriteString(rcpt.Given + ",")
	}
	b.WriteString("\n\n")
	for _, p := range th.paragraphs(pos) {
		b.WriteString(p + "\n\n")
	}
	if len(docs) > 0 {
		names := make([]string, len(docs))
		for i, d := range docs {
			names[i] = d.Filename
		}
		if len(docs) == 1 {
			b.WriteString("Pièce jointe : " + names[0] + "\n\n")
		} else {
			b.WriteString("Pièces jointes :\n- " + strings.Join(names, "\n- ") + "\n\n")
		}
	}
	formal := !from.internal || !rcpt.internal
	if formal && r.chance(0.5) {
		b.WriteString("Je vous prie d'agréer, " + civility(rcpt) + ", l'expression de ma considération distinguée.\n\n")
	} else {
		b.WriteString(pick(r, []string{"Cordialement,", "Bien cordialement,", "Bien à vous,", "Merci d'avance,"}) + "\n\n")
	}
	if !from.outlook {
		b.WriteString("-- \n")
	}
	b.WriteString(from.Name + "\n")
	if from.Title != "" {
		b.WriteString(from.Title + "\n")
	}
	if from.internal {
		b.WriteString(from.Org + "\nMinistère de l'Intérieur\nTél. : " + from.Phone + "\n")
	} else if from.Org != "" {
		b.WriteString(from.Org + "\n")
	}

	if pos > 0 {
		prev := th.sender(fs, pos-1)
		when := o.work.instant(o.work.at(sent) - int64(600+r.intn(3*(workEnd-workStart))))
		b.WriteString("\n")
		if from.outlook {
			b.WriteString("-----Message d'origine-----\nDe : " + prev.Name + " <" + prev.Address + ">\nEnvoyé : " + frenchDateTime(when) +
				"\nObjet : " + th.subject + "\n\n")
			for _, p := range th.paragraphs(pos - 1) {
				b.WriteString(p + "\n\n")
			}
		} else {
			b.WriteString("Le " + frenchDateTime(when) + ", " + prev.Name + " a écrit :\n")
			for _, p := range th.paragraphs(pos - 1) {
				b.WriteString("> " + p + "\n>\n")
			}
		}
	}
	return b.String()
}
