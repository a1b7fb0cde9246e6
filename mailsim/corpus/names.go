package corpus

// Invented people and organisations. Given names and surnames are common
// French ones, combined at random: no combination designates a real person.

var givenFemale = []string{
	"Amélie", "Anne", "Audrey", "Aurélie", "Béatrice", "Camille", "Caroline", "Catherine", "Céline", "Chloé",
	"Christine", "Claire", "Claudine", "Corinne", "Delphine", "Élodie", "Émilie", "Florence", "Françoise", "Hélène",
	"Inès", "Isabelle", "Jeanne", "Julie", "Juliette", "Karine", "Laetitia", "Laure", "Léa", "Louise",
	"Lucie", "Magali", "Manon", "Marie", "Marion", "Martine", "Mathilde", "Mélanie", "Nadia", "Nathalie",
	"Noémie", "Pauline", "Sabrina", "Sandrine", "Sarah", "Sophie", "Stéphanie", "Sylvie", "Valérie", "Virginie",
	"Yasmine", "Agnès", "Bérénice", "Gaëlle", "Maëlle", "Solène", "Fatima", "Samia", "Linh", "Ophélie",
}

var givenMale = []string{
	"Adrien", "Alain", "Alexandre", "Antoine", "Arnaud", "Benoît", "Bertrand", "Bruno", "Cédric", "Christophe",
	"Damien", "David", "Denis", "Didier", "Éric", "Étienne", "Fabrice", "François", "Frédéric", "Guillaume",
	"Hervé", "Hugo", "Jérôme", "Julien", "Karim", "Laurent", "Loïc", "Lucas", "Marc", "Mathieu",
	"Maxime", "Mehdi", "Michel", "Nicolas", "Olivier", "Pascal", "Patrick", "Philippe", "Pierre", "Quentin",
	"Raphaël", "Rémi", "Romain", "Samuel", "Sébastien", "Stéphane", "Thierry", "Thomas", "Vincent", "Xavier",
	"Yann", "Yannick", "Jean-Marc", "Jean-Luc", "Paul-Henri", "Gaël", "Hamid", "Tristan", "Joël", "Anthony",
}

var surnames = []string{
	"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
	"Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
	"Morel", "Girard", "André", "Lefèvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez",
	"Legrand", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas",
	"Perrin", "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin",
	"Masson", "Sanchez", "Gérard", "Nguyen", "Boyer", "Denis", "Lemaire", "Duval", "Joly", "Gautier",
	"Roger", "Roche", "Roy", "Noël", "Meyer", "Lucas", "Meunier", "Jean", "Pérez", "Marchand",
	"Dufour", "Blanchard", "Marie", "Barbier", "Brun", "Dumas", "Brunet", "Schmitt", "Leroux", "Colin",
	"Fernandez", "Pierre", "Renard", "Arnaud", "Rolland", "Caron", "Aubert", "Giraud", "Leclerc", "Vidal",
	"Bourgeois", "Renaud", "Lemoine", "Picard", "Gaillard", "Philippe", "Leclercq", "Lacroix", "Fabre", "Dupuis",
	"Olivier", "Rodriguez", "Da Silva", "Hubert", "Louis", "Charles", "Guillot", "Rivière", "Le Gall", "Guillaume",
	"Adam", "Rey", "Moulin", "Gonzalez", "Berger", "Lecomte", "Ménard", "Fleury", "Deschamps", "Carpentier",
	"Julien", "Benoît", "Paris", "Maillard", "Marchal", "Aubry", "Vasseur", "Le Roux", "Renault", "Jacquet",
	"Collet", "Prévost", "Poirier", "Charpentier", "Royer", "Huet", "Baron", "Dupuy", "Pons", "Paul",
	"Laine", "Carré", "Breton", "Rémy", "Schneider", "Perrot", "Guyot", "Barré", "Marty", "Cousin",
	"Benali", "Haddad", "Traoré", "Diallo", "Kaci", "Mansouri", "Le Bihan", "Quéméner", "Etcheverry", "Santoni",
}

// department is a directorate or service of the ministry.
type department struct {
	Code, Name string
	Weight     int        // share of the rank and file
	HeadTitle  string     // "Directeur général|Directrice générale": male|female forms
	Roles      []roleSpec // rank-and-file roles
}

type roleSpec struct {
	Role, Title string // Title "masculine|feminine" when they differ
	Weight      int
}

var (
	rolesAdmin = []roleSpec{
		{"manager", "Chef de bureau|Cheffe de bureau", 3},
		{"manager", "Adjoint au chef de bureau|Adjointe à la cheffe de bureau", 2},
		{"agent", "Attaché d'administration|Attachée d'administration", 6},
		{"agent", "Rédacteur|Rédactrice", 6},
		{"agent", "Secrétaire administratif|Secrétaire administrative", 5},
		{"agent", "Adjoint administratif|Adjointe administrative", 4},
		{"analyst", "Chargé d'études|Chargée d'études", 3},
		{"advisor", "Chargé de mission|Chargée de mission", 2},
	}
	rolesPolice = []roleSpec{
		{"manager", "Commissaire de police", 2},
		{"manager", "Commandant de police", 2},
		{"agent", "Capitaine de police", 3},
		{"agent", "Officier de police judiciaire", 4},
		{"analyst", "Analyste criminel|Analyste criminelle", 4},
		{"agent", "Brigadier-chef|Brigadière-cheffe", 3},
		{"agent", "Secrétaire administratif|Secrétaire administrative", 3},
	}
	rolesIntel = []roleSpec{
		{"manager", "Chef de section|Cheffe de section", 2},
		{"analyst", "Analyste renseignement", 6},
		{"agent", "Officier traitant|Officière traitante", 3},
		{"analyst", "Analyste sources ouvertes", 2},
		{"agent", "Secrétaire administratif|Secrétaire administrative", 2},
	}
	rolesLegal = []roleSpec{
		{"manager", "Chef de bureau|Cheffe de bureau", 3},
		{"jurist", "Juriste", 7},
		{"jurist", "Rédacteur juridique|Rédactrice juridique", 5},
		{"agent", "Attaché d'administration|Attachée d'administration", 4},
		{"agent", "Secrétaire administratif|Secrétaire administrative", 3},
	}
	rolesIT = []roleSpec{
		{"manager", "Chef de pôle|Cheffe de pôle", 2},
		{"sysadmin", "Administrateur systèmes et réseaux|Administratrice systèmes et réseaux", 5},
		{"security", "Ingénieur sécurité des SI|Ingénieure sécurité des SI", 3},
		{"support", "Technicien support|Technicienne support", 5},
		{"analyst", "Chef de projet informatique|Cheffe de projet informatique", 3},
		{"security", "Analyste SOC", 2},
	}
	rolesHR = []roleSpec{
		{"manager", "Chef de bureau|Cheffe de bureau", 2},
		{"hr", "Gestionnaire RH", 7},
		{"hr", "Conseiller mobilité carrière|Conseillère mobilité carrière", 2},
		{"hr", "Gestionnaire paie", 3},
		{"agent", "Adjoint administratif|Adjointe administrative", 3},
	}
	rolesFinance = []roleSpec{
		{"manager", "Chef de bureau|Cheffe de bureau", 2},
		{"finance", "Contrôleur de gestion|Contrôleuse de gestion", 3},
		{"finance", "Gestionnaire budgétaire", 5},
		{"finance", "Acheteur public|Acheteuse publique", 3},
		{"agent", "Secrétaire administratif|Secrétaire administrative", 2},
	}
	rolesComm = []roleSpec{
		{"communication", "Chargé de communication|Chargée de communication", 4},
		{"communication", "Attaché de presse|Attachée de presse", 3},
		{"analyst", "Veilleur médias|Veilleuse médias", 2},
	}
	rolesInspect = []roleSpec{
		{"inspector", "Inspecteur général|Inspectrice générale", 4},
		{"inspector", "Inspecteur de l'administration|Inspectrice de l'administration", 4},
		{"agent", "Chargé de mission|Chargée de mission", 2},
	}
)

// departments lists the ministry's directorates. Index 0 is the minister's
// office, home of the director and the secretariat.
var departments = []department{
	{"CAB", "Cabinet du ministre", 2, "Directeur de cabinet|Directrice de cabinet", []roleSpec{
		{"advisor", "Conseiller technique|Conseillère technique", 4},
		{"advisor", "Conseiller pour les affaires réservées|Conseillère pour les affaires réservées", 1},
		{"secretariat", "Assistant de cabinet|Assistante de cabinet", 2},
	}},
	{"SG", "Secrétariat général", 6, "Secrétaire général|Secrétaire générale", rolesAdmin},
	{"DGPN", "Direction générale de la police nationale", 10, "Directeur général|Directrice générale", rolesPolice},
	{"DCSI", "Direction centrale de la sûreté intérieure", 7, "Directeur central|Directrice centrale", rolesIntel},
	{"DLPAJ", "Direction des libertés publiques et des affaires juridiques", 7, "Directeur|Directrice", rolesLegal},
	{"DRH", "Direction des ressources humaines", 6, "Directeur des ressources humaines|Directrice des ressources humaines", rolesHR},
	{"SSI", "Service des systèmes d'information", 7, "Chef du service|Cheffe du service", rolesIT},
	{"DFA", "Direction des finances et des achats", 5, "Directeur financier|Directrice financière", rolesFinance},
	{"DGEF", "Direction générale des étrangers en France", 7, "Directeur général|Directrice générale", rolesAdmin},
	{"DMAT", "Direction de la modernisation et de l'action territoriale", 5, "Directeur|Directrice", rolesAdmin},
	{"DGSCGC", "Direction générale de la sécurité civile et de la gestion des crises", 5, "Directeur général|Directrice générale", rolesAdmin},
	{"DSR", "Délégation à la sécurité routière", 3, "Délégué interministériel|Déléguée interministérielle", rolesAdmin},
	{"IGA", "Inspection générale de l'administration", 3, "Chef du service|Cheffe du service", rolesInspect},
	{"SICOM", "Service de l'information et de la communication", 3, "Chef du service|Cheffe du service", rolesComm},
	{"BC", "Bureau du courrier et des archives", 3, "Chef de bureau|Cheffe de bureau", []roleSpec{
		{"agent", "Agent du courrier|Agente du courrier", 5},
		{"agent", "Archiviste", 2},
	}},
}

func deptIndex(code string) int {
	for i, d := range departments {
		if d.Code == code {
			return i
		}
	}
	return -1
}

// sharedSpec describes a shared (functional) mailbox.
type sharedSpec struct {
	Local, Name, Dept string
	Roles             []string // roles of the department whose members are delegates
}

var sharedMailboxes = []sharedSpec{
	{"cabinet", "Cabinet", "CAB", []string{"advisor"}},
	{"courrier", "Bureau du courrier", "BC", []string{"agent", "head"}},
	{"presse", "Service de presse", "SICOM", []string{"communication", "head"}},
	{"support-si", "Support informatique", "SSI", []string{"support", "sysadmin"}},
	{"rh", "Ressources humaines", "DRH", []string{"hr", "manager"}},
	{"permanence", "Permanence opérationnelle", "DGSCGC", []string{"manager", "agent"}},
}

// CommonPasswords is a password-spray list: weak and seasonal passwords
// such as staff really choose. About 3% of the personal users (never the
// director) have one of them; every other mailbox has a strong random one.
var CommonPasswords = []string{
	"Hiver2025!", "Automne2025!", "Ete2025!", "Printemps2025!", "Hiver2024!",
	"Bienvenue1", "Bienvenue2025!", "Bienvenue123", "Azerty123!", "Azerty123",
	"Azerty2025!", "Motdepasse1!", "MotDePasse2025!", "Password1!", "Password123",
	"Paris2025!", "Paris75008!", "Soleil123!", "Bonjour123!", "Bonjour2025!",
	"Interieur2025!", "Interieur1!", "Ministere2025!", "Beauvau2025!", "Marianne2025!",
	"Police2025!", "Decembre2025!", "Novembre2025!", "Octobre2025!", "Septembre2025!",
	"France2025!", "Republique1!", "Changeme1!", "Welcome1!", "Qwerty123!",
	"123456Aa!", "Chouquette1!", "Doudou2025!", "Marseille13!", "Lyon69000!",
}

// correspondent is a category of outside organisation.
type extOrg struct {
	Name, Domain string
	Kind         string // prefecture, partner, lawyer, press, citizen, vendor, mairie
	Generic      string // a functional local part, "" when people write in person
}

var externalOrgs = []extOrg{
	{"Préfecture du Rhône", "rhone.prefecture.test", "prefecture", ""},
	{"Préfecture de la Gironde", "gironde.prefecture.test", "prefecture", ""},
	{"Préfecture du Nord", "nord.prefecture.test", "prefecture", ""},
	{"Préfecture des Bouches-du-Rhône", "bouches-du-rhone.prefecture.test", "prefecture", ""},
	{"Préfecture de police", "prefecture-police.test", "prefecture", ""},
	{"Préfecture du Bas-Rhin", "bas-rhin.prefecture.test", "prefecture", ""},
	{"Préfecture de la Loire-Atlantique", "loire-atlantique.prefecture.test", "prefecture", ""},
	{"Préfecture de l'Hérault", "herault.prefecture.test", "prefecture", ""},
	{"Ministère de la Justice", "justice.test", "partner", ""},
	{"Ministère des Armées", "armees.test", "partner", ""},
	{"Direction des douanes", "douane.test", "partner", ""},
	{"Agence nationale de cybersécurité", "cyber-agence.test", "partner", ""},
	{"Office de protection des réfugiés", "office-refugies.test", "partner", ""},
	{"Tribunal administratif de Paris", "ta-paris.justice.test", "partner", "greffe"},
	{"Conseil d'État", "conseil-etat.test", "partner", "contentieux"},
	{"Autorité de protection des données", "autorite-donnees.example", "partner", ""},
	{"Cabinet Morel & Associés", "morel-avocats.example", "lawyer", ""},
	{"SCP Lefort Bénard", "lefort-benard-avocats.example", "lawyer", ""},
	{"Cabinet Haddad Avocats", "haddad-avocats.example", "lawyer", ""},
	{"Le Quotidien national", "quotidien-national.example", "press", ""},
	{"Agence Dépêche Presse", "agence-depeche.example", "press", ""},
	{"Radio Info Continue", "radio-info.example", "press", ""},
	{"L'Hebdo des territoires", "hebdo-territoires.example", "press", "redaction"},
	{"Ville de Villeneuve-sur-Loire", "villeneuve-sur-loire.test", "mairie", ""},
	{"Mairie de Saint-Aubin-les-Prés", "saint-aubin-les-pres.test", "mairie", ""},
	{"Infogérance Atlantique", "infogerance-atlantique.example", "vendor", ""},
	{"Logiciels Publics SA", "logiciels-publics.example", "vendor", ""},
	{"Sécurité Conseil & Audit", "secu-conseil-audit.example", "vendor", ""},
	{"Particulier", "courriel.example", "citizen", ""},
	{"Particulier", "messagerie.example", "citizen", ""},
	{"Association Droits & Libertés", "droits-libertes.example", "citizen", "contact"},
}

var cities = []string{
	"Lyon", "Bordeaux", "Lille", "Marseille", "Strasbourg", "Nantes", "Montpellier", "Rennes", "Toulouse",
	"Villeneuve-sur-Loire", "Saint-Aubin-les-Prés", "Grenoble", "Dijon", "Rouen", "Metz", "Tours", "Limoges",
}
