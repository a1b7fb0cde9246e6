package corpus

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

func itoa(n int) string { return strconv.Itoa(n) }

// buildDirectory creates the personal users, then the shared mailboxes.
//
// Layout: 0 director, 1 secretariat (delegate on the director), 2-4 the
// minister's office (chef de cabinet, advisors), then one head per
// department, then a secretariat for the largest departments (delegate on
// their head), then the rank and file in weighted departments.
func (o *Org) buildDirectory() {
	n := o.cfg.Users
	r := o.key.str("directory").rng()
	o.users = make([]User, 0, n+len(sharedMailboxes))
	o.index = make(map[string]int, n+len(sharedMailboxes))
	o.byDept = make([][]int, len(departments))

	add := func(dept int, role, title string) int {
		u := User{Kind: "person", Department: departments[dept].Name, Role: role, dept: dept}
		if r.chance(0.5) {
			u.gender = 'F'
			u.GivenName = pick(&r, givenFemale)
		} else {
			u.gender = 'M'
			u.GivenName = pick(&r, givenMale)
		}
		u.Surname = pick(&r, surnames)
		u.Name = u.GivenName + " " + u.Surname
		u.Title = genderTitle(title, u.gender)
		local := asciiLocal(u.GivenName) + "." + asciiLocal(u.Surname)
		addr := local + "@" + o.cfg.Domain
		for k := 2; ; k++ {
			if _, dup := o.index[addr]; !dup {
				break
			}
			addr = local + itoa(k) + "@" + o.cfg.Domain
		}
		u.Address = addr
		u.Phone = fmt.Sprintf("+33 1 99 00 %02d %02d", r.intn(100), r.intn(100))
		u.Password = strongPassword(&r)
		i := len(o.users)
		o.users = append(o.users, u)
		o.index[addr] = i
		o.byDept[dept] = append(o.byDept[dept], i)
		return i
	}
	full := func() bool { return len(o.users) >= n }

	cab := deptIndex("CAB")
	dir := add(cab, "director", departments[cab].HeadTitle)
	sec := add(cab, "secretariat", "Assistant de direction|Assistante de direction")
	o.users[dir].Delegates = []string{o.users[sec].Address}
	for _, t := range []string{"Chef de cabinet|Cheffe de cabinet", "Conseiller technique|Conseillère technique", "Conseiller spécial|Conseillère spéciale"} {
		if full() {
			break
		}
		add(cab, "advisor", t)
	}
	heads := make([]int, len(departments))
	for i := range heads {
		heads[i] = -1
	}
	heads[cab] = dir
	for d := range departments {
		if d == cab || full() {
			continue
		}
		heads[d] = add(d, "head", departments[d].HeadTitle)
	}
	for _, code := range []string{"DGPN", "DCSI", "DLPAJ", "SG", "SSI", "DGEF"} {
		if full() {
			break
		}
		d := deptIndex(code)
		s := add(d, "secretariat", "Secrétaire de direction")
		if heads[d] >= 0 {
			o.users[heads[d]].Delegates = append(o.users[heads[d]].Delegates, o.users[s].Address)
		}
	}
	weights := make([]int, len(departments))
	for i, d := range departments {
		weights[i] = d.Weight
	}
	for !full() {
		d := r.weighted(weights)
		roles := departments[d].Roles
		w := make([]int, len(roles))
		for i, rs := range roles {
			w[i] = rs.Weight
		}
		rs := roles[r.weighted(w)]
		add(d, rs.Role, rs.Title)
	}
	o.nPerson = len(o.users)

	// About 3% weak passwords, never the director.
	weak := (n*3 + 50) / 100
	if weak < 1 {
		weak = 1
	}
	perm := r.perm(n - 1)
	for _, p := range perm[:weak] {
		o.users[p+1].Password = pick(&r, CommonPasswords)
	}

	for _, s := range sharedMailboxes {
		d := deptIndex(s.Dept)
		u := User{
			Address: s.Local + "@" + o.cfg.Domain, Name: s.Name, Kind: "shared",
			Department: departments[d].Name, Role: "shared", Title: s.Name, dept: d,
			Phone:    fmt.Sprintf("+33 1 99 00 %02d %02d", r.intn(100), r.intn(100)),
			Password: strongPassword(&r),
		}
		var del []string
		seen := map[int]bool{}
		addDel := func(i int) {
			if i >= 0 && !seen[i] {
				seen[i] = true
				del = append(del, o.users[i].Address)
			}
		}
		if s.Local == "cabinet" {
			addDel(dir)
			addDel(sec)
		}
		if s.Local == "courrier" {
			addDel(sec)
		}
		for _, i := range o.byDept[d] {
			if len(del) >= 6 {
				break
			}
			for _, role := range s.Roles {
				if o.users[i].Role == role {
					addDel(i)
				}
			}
		}
		if len(del) == 0 {
			addDel(dir)
			addDel(sec)
		}
		u.Delegates = del
		o.index[u.Address] = len(o.users)
		o.users = append(o.users, u)
	}
}

// genderTitle picks the form of "masculine|feminine".
func genderTitle(t string, g byte) string {
	m, f, ok := strings.Cut(t, "|")
	if !ok {
		return t
	}
	if g == 'F' {
		return f
	}
	return m
}

// asciiLocal turns "Lefèvre", "Le Gall", "Jean-Marc" into "lefevre", "le-gall", "jean-marc".
func asciiLocal(s string) string {
	var b strings.Builder
	for _, c := range s {
		if f, ok := foldAccent[c]; ok {
			b.WriteString(f)
			continue
		}
		switch {
		case c == ' ' || c == '-':
			b.WriteByte('-')
		case c < 128 && (unicode.IsLetter(c) || unicode.IsDigit(c)):
			b.WriteRune(unicode.ToLower(c))
		}
	}
	return b.String()
}

const pwLower, pwUpper, pwDigit, pwSym = "abcdefghijkmnopqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ", "23456789", "!#$%&*+-=?@_"

func strongPassword(r *rng) string {
	const all = pwLower + pwUpper + pwDigit + pwSym
	b := make([]byte, 16)
	for i := range b {
		b[i] = all[r.intn(len(all))]
	}
	// One of each class at distinct random places.
	at := r.perm(len(b))
	for i, class := range []string{pwLower, pwUpper, pwDigit, pwSym} {
		b[at[i]] = class[r.intn(len(class))]
	}
	return string(b)
}

var foldAccent = map[rune]string{
	'à': "a", 'â': "a", 'ä': "a", 'ç': "c", 'é': "e", 'è': "e", 'ê': "e", 'ë': "e",
	'î': "i", 'ï': "i", 'ô': "o", 'ö': "o", 'ù': "u", 'û': "u", 'ü': "u", 'ÿ': "y",
	'É': "e", 'È': "e", 'Ê': "e", 'À': "a", 'Ç': "c", 'Î': "i", 'Ô': "o", 'œ': "oe", 'æ': "ae", '\'': "",
}
