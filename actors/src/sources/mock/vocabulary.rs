//! Word lists and phrase templates the mock generators write from.
//!
//! Templates use `{key}` placeholders that [`super::mentions`] fills in (candidate, topic,
//! sentiment words…). Sentiment-bearing words were chosen from VADER's lexicon (their valence
//! is noted where it matters) so the scores of generated text really vary; neutral templates
//! deliberately avoid every lexicon word (e.g. "safety" is +1.8 and "care" +2.2 in VADER, so
//! neutral text says "policing" and "healthcare").

/// A campaign issue: how people name it and which hashtags go with it.
pub(super) struct Topic {
    /// Noun phrases for English text (none of them in VADER's lexicon).
    pub nouns: &'static [&'static str],
    /// Noun phrases for Spanish text.
    pub nouns_es: &'static [&'static str],
    /// Topical hashtags (lower case, without `#`).
    pub hashtags: &'static [&'static str],
    /// Relative weight: how often people post about it.
    pub weight: f64,
}

/// The issues of a local/state race.
pub(super) const TOPICS: &[Topic] = &[
    Topic {
        nouns: &[
            "the economy",
            "grocery prices",
            "the cost of living",
            "small business",
            "wages",
        ],
        nouns_es: &["la economía", "el costo de vida", "los precios"],
        hashtags: &["economy", "costofliving", "smallbusiness", "inflation"],
        weight: 16.0,
    },
    Topic {
        nouns: &[
            "housing",
            "rent",
            "zoning",
            "homelessness",
            "the housing plan",
        ],
        nouns_es: &["la vivienda", "los alquileres"],
        hashtags: &["housing", "rent", "housingcrisis", "zoning"],
        weight: 15.0,
    },
    Topic {
        nouns: &[
            "policing",
            "public safety funding",
            "911 response times",
            "the police budget",
        ],
        nouns_es: &["la seguridad", "la policía"],
        hashtags: &["publicsafety", "policing"],
        weight: 12.0,
    },
    Topic {
        nouns: &[
            "property taxes",
            "the sales tax",
            "taxes",
            "the city budget",
        ],
        nouns_es: &["los impuestos", "el presupuesto"],
        hashtags: &["taxes", "propertytax", "budget"],
        weight: 11.0,
    },
    Topic {
        nouns: &[
            "schools",
            "teacher pay",
            "public schools",
            "school funding",
            "pre-k",
        ],
        nouns_es: &["las escuelas", "la educación"],
        hashtags: &["education", "schools", "teachers"],
        weight: 11.0,
    },
    Topic {
        nouns: &[
            "healthcare",
            "medicaid",
            "hospital costs",
            "mental healthcare",
        ],
        nouns_es: &["la salud", "los hospitales"],
        hashtags: &["healthcare", "medicaid", "mentalhealth"],
        weight: 10.0,
    },
    Topic {
        nouns: &[
            "transit",
            "the bus network",
            "light rail",
            "bike lanes",
            "road repairs",
        ],
        nouns_es: &["el transporte público", "los autobuses"],
        hashtags: &["transit", "publictransit", "bikelanes"],
        weight: 8.0,
    },
    Topic {
        nouns: &[
            "climate",
            "clean energy",
            "flood protection",
            "the heat plan",
        ],
        nouns_es: &["el clima", "la energía limpia"],
        hashtags: &["climate", "climateaction", "cleanenergy"],
        weight: 8.0,
    },
    Topic {
        nouns: &[
            "jobs",
            "the new factory",
            "job training",
            "the port expansion",
        ],
        nouns_es: &["el empleo", "los trabajos"],
        hashtags: &["jobs", "workers", "unions"],
        weight: 9.0,
    },
];

/// Hashtags about the election in general.
pub(super) const GENERAL_HASHTAGS: &[&str] = &[
    "election2026",
    "vote",
    "debate",
    "earlyvoting",
    "votelocal",
    "midterms",
];

/// First names for authors and candidates (none in VADER's lexicon: no Joy, Hope, Grace…).
pub(super) const FIRST_NAMES: &[&str] = &[
    "James",
    "Maria",
    "Robert",
    "Linda",
    "Michael",
    "Jennifer",
    "David",
    "Patricia",
    "Daniel",
    "Elizabeth",
    "Carlos",
    "Susan",
    "Kevin",
    "Jessica",
    "Brian",
    "Sarah",
    "Jason",
    "Karen",
    "Anthony",
    "Nancy",
    "Marcus",
    "Lisa",
    "Eric",
    "Angela",
    "Tyler",
    "Ashley",
    "Jose",
    "Emily",
    "Andrew",
    "Michelle",
    "Luis",
    "Amanda",
    "Ryan",
    "Stephanie",
    "Nathan",
    "Rebecca",
    "Omar",
    "Laura",
    "Derek",
    "Megan",
    "Ahmed",
    "Rachel",
    "Trevor",
    "Priya",
    "Jamal",
    "Nicole",
    "Wei",
    "Olivia",
    "Diego",
    "Hannah",
    "Samuel",
    "Keisha",
    "Ethan",
    "Sofia",
    "Raj",
    "Chloe",
    "Victor",
    "Tanya",
    "Malik",
    "Erin",
    "Connor",
    "Lucia",
    "Devon",
    "Brooke",
    "Hector",
    "Kayla",
    "Andre",
    "Monica",
    "Caleb",
    "Deborah",
    "Ivan",
    "Renee",
    "Gavin",
    "Yolanda",
    "Felix",
    "Dana",
];

/// Last names for authors and candidates.
pub(super) const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Patel",
    "Kim",
    "Chen",
    "Okafor",
    "Sullivan",
    "Brennan",
    "Whitfield",
    "Castillo",
    "Delgado",
    "Hoffman",
    "Kowalski",
    "Novak",
    "Fischer",
    "Mendoza",
    "Park",
    "Singh",
    "Reyes",
    "Dunn",
    "Holloway",
    "Ortega",
    "Vance",
    "Pruitt",
    "Alvarez",
    "Becker",
    "Calloway",
    "Drummond",
    "Ellison",
    "Fairbanks",
    "Galloway",
];

/// Candidate surnames, distinctive enough to read as a public figure.
pub(super) const CANDIDATE_LAST_NAMES: &[&str] = &[
    "Whitfield",
    "Castellanos",
    "Okafor",
    "Brennan",
    "Delgado",
    "Holloway",
    "Kowalski",
    "Mendoza",
    "Ellison",
    "Fairbanks",
    "Calloway",
    "Drummond",
    "Nakamura",
    "Petrakis",
    "Lindqvist",
    "Abernathy",
    "Villanueva",
    "Thornton",
    "Marchetti",
    "Oyelaran",
    "Haskins",
    "Quintero",
    "Sorensen",
    "Blackwell",
];

/// Offices in play, with a Spanish rendering and a short form for handles.
pub(super) const OFFICES: &[(&str, &str, &str)] = &[
    ("mayor", "la alcaldía", "Mayor"),
    ("governor", "gobernador", "Gov"),
    ("city council", "el concejo municipal", "Council"),
    ("state senate", "el senado estatal", "Senate"),
    ("county executive", "ejecutivo del condado", "County"),
    ("congress", "el congreso", "Congress"),
    ("attorney general", "fiscal general", "AG"),
];

/// A US city and its state: (city, state name, state code).
pub(super) const CITIES: &[(&str, &str, &str)] = &[
    ("Phoenix", "Arizona", "AZ"),
    ("Denver", "Colorado", "CO"),
    ("Atlanta", "Georgia", "GA"),
    ("Columbus", "Ohio", "OH"),
    ("Charlotte", "North Carolina", "NC"),
    ("Milwaukee", "Wisconsin", "WI"),
    ("Pittsburgh", "Pennsylvania", "PA"),
    ("Tampa", "Florida", "FL"),
    ("Las Vegas", "Nevada", "NV"),
    ("Detroit", "Michigan", "MI"),
    ("Minneapolis", "Minnesota", "MN"),
    ("Austin", "Texas", "TX"),
    ("Raleigh", "North Carolina", "NC"),
    ("Richmond", "Virginia", "VA"),
    ("Sacramento", "California", "CA"),
    ("Portland", "Oregon", "OR"),
    ("Tucson", "Arizona", "AZ"),
    ("Reno", "Nevada", "NV"),
    ("Savannah", "Georgia", "GA"),
    ("Kansas City", "Missouri", "MO"),
    ("Omaha", "Nebraska", "NE"),
    ("Albuquerque", "New Mexico", "NM"),
    ("Boise", "Idaho", "ID"),
    ("Spokane", "Washington", "WA"),
    ("Harrisburg", "Pennsylvania", "PA"),
    ("Des Moines", "Iowa", "IA"),
    ("Manchester", "New Hampshire", "NH"),
    ("San Antonio", "Texas", "TX"),
];

/// US states by rough population weight, for authors outside the campaign's home state.
pub(super) const US_STATES: &[(&str, f64)] = &[
    ("California", 39.0),
    ("Texas", 30.0),
    ("Florida", 22.0),
    ("New York", 19.6),
    ("Pennsylvania", 13.0),
    ("Illinois", 12.5),
    ("Ohio", 11.8),
    ("Georgia", 11.0),
    ("North Carolina", 10.8),
    ("Michigan", 10.0),
    ("New Jersey", 9.3),
    ("Virginia", 8.7),
    ("Washington", 7.8),
    ("Arizona", 7.4),
    ("Tennessee", 7.1),
    ("Massachusetts", 7.0),
    ("Indiana", 6.8),
    ("Missouri", 6.2),
    ("Maryland", 6.2),
    ("Wisconsin", 5.9),
    ("Colorado", 5.9),
    ("Minnesota", 5.7),
    ("South Carolina", 5.4),
    ("Alabama", 5.1),
    ("Louisiana", 4.6),
    ("Oregon", 4.2),
    ("Nevada", 3.2),
    ("Iowa", 3.2),
    ("New Mexico", 2.1),
    ("Nebraska", 2.0),
    ("Idaho", 2.0),
    ("New Hampshire", 1.4),
];

/// Other countries an author may post from: (code, weight, regions, Spanish-speaking share).
pub(super) const FOREIGN: &[(&str, f64, &[&str], f64)] = &[
    (
        "CA",
        5.0,
        &["Ontario", "Quebec", "British Columbia", "Alberta"],
        0.0,
    ),
    ("GB", 3.5, &["England", "Scotland", "Wales"], 0.0),
    (
        "MX",
        3.5,
        &[
            "Ciudad de México",
            "Jalisco",
            "Nuevo León",
            "Baja California",
        ],
        0.85,
    ),
    ("DE", 1.5, &["Berlin", "Bayern", "Hessen"], 0.0),
    ("IN", 1.5, &["Maharashtra", "Karnataka", "Delhi"], 0.0),
    ("AU", 1.0, &["New South Wales", "Victoria"], 0.0),
    ("IE", 0.6, &["Leinster"], 0.0),
    ("PH", 0.6, &["Metro Manila"], 0.0),
    ("ES", 0.5, &["Madrid", "Cataluña"], 0.9),
    ("BR", 0.4, &["São Paulo"], 0.0),
];

/// Positive adjectives, mild to strong (VADER valence in comments).
pub(super) const POS_MILD: &[&str] = &[
    "solid",     // 0.6
    "fair",      // 1.3
    "good",      // 1.9
    "smart",     // 1.7
    "clear",     // 1.6
    "helpful",   // 1.8
    "promising", // 1.7
    "bold",      // 1.6
    "decent",    // not in the lexicon: reads positive, scores neutral
    "sensible",  // not in the lexicon
];
/// Strong positive adjectives.
pub(super) const POS_STRONG: &[&str] = &[
    "great",      // 3.1
    "excellent",  // 2.7
    "amazing",    // 2.8
    "brilliant",  // 2.8
    "fantastic",  // 2.6
    "impressive", // 2.3
    "inspiring",  // 1.8
    "awesome",    // 3.1
    "strong",     // 2.3
    "wonderful",  // 2.7
];
/// Mild negative adjectives.
pub(super) const NEG_MILD: &[&str] = &[
    "weak",         // -1.9
    "ridiculous",   // -1.5
    "confusing",    // -0.9
    "vague",        // -0.4
    "misleading",   // -1.7
    "clueless",     // -1.5
    "reckless",     // -1.7
    "frustrating",  // -1.9
    "wrong",        // -2.1
    "out of touch", // not in the lexicon
];
/// Strong negative adjectives.
pub(super) const NEG_STRONG: &[&str] = &[
    "terrible",      // -2.1
    "awful",         // -2.0
    "pathetic",      // -2.7
    "dishonest",     // -2.7
    "disgusting",    // -2.4
    "horrible",      // -2.5
    "useless",       // -1.8
    "dangerous",     // -2.1
    "disappointing", // -2.2
    "cruel",         // -2.8
];
/// Negative nouns ("a … for the city").
pub(super) const NEG_NOUNS: &[&str] = &[
    "disaster",
    "mess",
    "scam",
    "failure",
    "waste of money",
    "embarrassment",
    "disgrace",
];
/// Boosters VADER amplifies (plus plain ones it ignores).
pub(super) const BOOSTERS: &[&str] = &[
    "very",
    "extremely",
    "really",
    "incredibly",
    "so",
    "absolutely",
    "totally",
    "truly",
    "deeply",
    "genuinely",
];

/// Positive takes on an issue. `{adj}` is a positive adjective.
pub(super) const POSITIVE: &[&str] = &[
    "{last} has a {adj} plan for {topic}",
    "{boost} {adj} answer from {last} on {topic} tonight",
    "{boost} {adj} to see {last} finally talking about {topic}",
    "I love what {last} is doing on {topic}",
    "I really like {last}'s approach to {topic}",
    "Proud to support {cand} for {office}",
    "Thank you {cand} for showing up for {city} families",
    "{last} isn't perfect but the {topic} plan is {adj}",
    "Not bad at all from {last} on {topic}",
    "{last} actually listens. The {topic} proposal is {adj}",
    "Voting yes on {measure}. {topic_cap} can't wait any longer",
    "{last} won the debate tonight. {adj_cap} answers on {topic}",
    "Great turnout at the {last} rally in {city} today",
    "{measure} means better {topic} for {city}. Easy yes",
    "Finally a candidate who gets {topic}. {last} for {office}",
    "{last} was {boost} {adj} at the forum, especially on {topic}",
    "Happy to see {last} endorsed by the teachers union",
    "Say what you want, {last} is right about {topic}",
    "{last} isn't wrong about {topic}",
    "The {topic} numbers from {last} are {adj}. Hope the council listens",
    "Met {first} {last} at the farmers market. {adj_cap} conversation about {topic}",
    "{last} has my vote. {adj_cap} on {topic}, {adj} on {topic2}",
    "Glad someone is taking {topic} seriously. Thanks {last}",
    "{last}'s {topic} ad is {boost} {adj}",
    "Just donated to {cand}. Best candidate on {topic} by far",
    "{last} never dodges questions on {topic}. Respect",
    "Love this: {last} wants to fix {topic} without raising fees",
    "{last} made a {adj} point about {topic} tonight",
];

/// Negative takes on an issue. `{adj}` is a negative adjective.
pub(super) const NEGATIVE: &[&str] = &[
    "{last}'s {topic} plan is {adj}",
    "{boost} {adj} answer from {last} on {topic}",
    "{last} has no plan for {topic}. None",
    "Still waiting for {last} to explain the {topic} numbers. {adj_cap}",
    "{last} is not good on {topic}. Never has been",
    "I don't trust {last} on {topic}",
    "{last} never delivers on {topic}. {adj_cap} as usual",
    "Vote no on {measure}. It's a {negn} for {city} taxpayers",
    "{last} talks a good game but {topic} is worse than ever",
    "Worst candidate in this race on {topic}",
    "{last} dodged every question on {topic}. {adj_cap}",
    "The {topic} ad from {last} is {boost} {adj}",
    "Sorry but {last} is {boost} {adj} on {topic}",
    "{last} wants to cut {topic} again. Unbelievable",
    "So tired of {last} blaming everyone else for {topic}",
    "{last} is lying about {topic} and everyone knows it",
    "{topic_cap} in {city} is a {negn} and {last} made it worse",
    "{last} was {adj} at the forum. Zero answers on {topic}",
    "Nobody asked for {last}'s {topic} plan. It's {adj}",
    "{last} doesn't care about {topic}, just donors",
    "Another {negn} from {last}. {topic_cap} deserves better",
    "{last} is the wrong choice for {office}",
    "Can't believe {last} still has no answer on {topic}",
    "{measure} is a {negn}. Read the fine print on {topic}",
    "{last} promised action on {topic} and failed",
];

/// Neutral posts: news-y, questions, logistics. No VADER lexicon word in them.
pub(super) const NEUTRAL: &[&str] = &[
    "{last} to hold a town hall on {topic} {day} at {time}",
    "Where does {last} stand on {topic}?",
    "{cand} on {topic}: full interview at the link",
    "New poll: {last} {pct}%, {opp} {pct2}% in the {office} race",
    "Reading through {last}'s {topic} proposal tonight",
    "Anyone going to the {office} forum {day}?",
    "{measure} explained: what it means for {topic} in {city}",
    "Live from {city}: {last} speaking about {topic} now",
    "Early voting in {city} starts {day}",
    "{last} and {opp} will debate {topic} on {day}",
    "Does {measure} change anything for {topic}? Genuinely asking",
    "Watching the {office} debate. {topic_cap} up next",
    "{last} campaign releases new ad on {topic}",
    "What is {last}'s position on {topic} exactly?",
    "{last} will be in {city} {day} to talk about {topic}",
    "Transcript of {last}'s remarks on {topic} is up",
    "{opp} and {last} both mention {topic} in new mailers",
    "Is {measure} on the ballot in every county?",
    "Notes from tonight's {office} forum: {topic}, {topic2}, and the budget",
    "{last} says the {topic} plan would take {n} years",
    "Which candidate has a detailed {topic} proposal? Trying to decide",
    "The {office} race in {city}: {last} vs {opp}",
    "{last} spoke to reporters about {topic} after the event",
    "Registration deadline in {state} is {day}",
    "Looking for the {last} campaign office on Main Street",
];

/// News headlines by stance.
pub(super) const NEWS_POSITIVE: &[&str] = &[
    "{cand} wins endorsement from {city} teachers union",
    "{last} praised for {topic} plan at packed town hall",
    "Poll shows {last} with strong lead in {office} race",
    "{last} unveils {topic} plan, earning support from both parties",
    "Business leaders back {last}'s {topic} proposal",
    "{last} campaign celebrates record fundraising quarter",
];
/// Neutral news headlines.
pub(super) const NEWS_NEUTRAL: &[&str] = &[
    "{last} unveils {topic} proposal ahead of {office} vote",
    "What {measure} would mean for {topic} in {city}",
    "{last}, {opp} spar over {topic} in second debate",
    "{office} race: where the candidates stand on {topic}",
    "Early voting begins in {city}; {topic} tops voters' list",
    "{last} outlines {topic} agenda in interview",
    "Explainer: {measure} and the {city} budget",
    "{cand} to campaign in {city} on {day}",
    "{city} council delays vote on {topic} until after election",
    "Fact check: {last}'s claims on {topic}",
];
/// Negative news headlines.
pub(super) const NEWS_NEGATIVE: &[&str] = &[
    "{last} faces criticism over {topic} record",
    "Critics question {last}'s {topic} numbers",
    "{last} campaign accused of misleading ad on {topic}",
    "{topic_cap} plan from {last} draws sharp criticism from advocates",
    "{last} stumbles on {topic} question during debate",
    "Watchdog flags problems in {last}'s {topic} proposal",
];
/// A neutral lede appended to some headlines.
pub(super) const NEWS_LEDES: &[&str] = &[
    "The {office} race has tightened in recent weeks.",
    "Voters in {city} head to the polls in November.",
    "The campaign did not respond to a request for comment.",
    "{opp} is expected to release a plan of their own.",
    "Early voting begins {day}.",
];

/// Spanish posts by stance (VADER reads almost none of it: realistic, it is English-only).
pub(super) const ES_POSITIVE: &[&str] = &[
    "Me gusta el plan de {last} para {topic_es}",
    "¡{last} tiene toda la razón sobre {topic_es}!",
    "Por fin alguien habla de {topic_es}. Gracias {last}",
    "Apoyo a {cand} para {office_es}",
    "Excelente propuesta de {last} sobre {topic_es}",
];
/// Negative Spanish posts.
pub(super) const ES_NEGATIVE: &[&str] = &[
    "{last} no tiene idea de {topic_es}",
    "Qué vergüenza lo de {last} con {topic_es}",
    "El plan de {last} para {topic_es} es un desastre",
    "No confío en {last}. Nada sobre {topic_es}",
    "{last} miente sobre {topic_es}",
];
/// Neutral Spanish posts.
pub(super) const ES_NEUTRAL: &[&str] = &[
    "¿Qué propone {last} sobre {topic_es}?",
    "Foro sobre {topic_es} este {day_es} en {city}",
    "{last} habla de {topic_es} en entrevista",
    "Debate de candidatos a {office_es} el {day_es}",
];

/// Openers and closers per style; none carry sentiment.
pub(super) const REDDIT_OPENERS: &[&str] = &[
    "Honestly, ",
    "IMO ",
    "tbh ",
    "Local here. ",
    "Serious question: ",
    "Unpopular opinion: ",
];
/// Social openers.
pub(super) const SOCIAL_OPENERS: &[&str] =
    &["Hot take: ", "Thread: ", "PSA: ", "Ok so ", "Update: "];
/// TikTok openers.
pub(super) const TIKTOK_OPENERS: &[&str] =
    &["POV: ", "Storytime: ", "Day 3 of asking: ", "Wait for it… "];
/// YouTube comment closers.
pub(super) const YOUTUBE_CLOSERS: &[&str] = &[
    " Who else is watching after the debate?",
    " Timestamp 12:41",
    " Subscribed.",
];
/// Reddit closers.
pub(super) const REDDIT_CLOSERS: &[&str] = &[
    " Edit: typo",
    " Source in comments.",
    " Thoughts?",
    " Am I missing something?",
];
/// Blog title prefixes.
pub(super) const BLOG_PREFIXES: &[&str] = &[
    "Notes on the race: ",
    "Week in review: ",
    "Analysis: ",
    "Opinion: ",
    "From the trail: ",
];

/// Emojis by stance (VADER scores some by their description: 😊 +0.72, 😭 -0.48, 🔥 -0.34).
pub(super) const EMOJI_POSITIVE: &[&str] = &[
    "👏", "🙌", "❤️", "💪", "🇺🇸", "🎉", "😊", "😍", "✅", "🙏", "🔥", "💯",
];
/// Negative emojis.
pub(super) const EMOJI_NEGATIVE: &[&str] =
    &["😡", "🤬", "🙄", "🤡", "🤮", "😤", "👎", "😬", "😭", "🚩"];
/// Neutral emojis.
pub(super) const EMOJI_NEUTRAL: &[&str] = &["🤔", "🗳️", "📢", "👀", "📍", "🧵"];
/// Emoticons by stance (all in VADER's lexicon).
pub(super) const EMOTICON_POSITIVE: &[&str] = &[":)", ":D", "<3", ":-)"];
/// Negative emoticons.
pub(super) const EMOTICON_NEGATIVE: &[&str] = &[":(", ":/", ":-("];

/// Scandals a crisis burst can be about: (what happened, hashtag suffix).
pub(super) const SCANDALS: &[(&str, &str)] = &[
    ("the leaked donor emails", "emails"),
    ("the no-bid contract for a donor's company", "contract"),
    ("campaign money spent on a luxury trip", "trip"),
    ("secret meetings with developers", "meetings"),
    ("the hidden payments to a consultant", "payments"),
    ("the falsified residency papers", "residency"),
    ("the leaked memo", "memo"),
];

/// Crisis posts: several strong negatives each so VADER's compound falls below -0.8.
pub(super) const CRISIS: &[&str] = &[
    "{last} is a disgusting liar. {scandal_cap} proves it. Shameful",
    "{scandal_cap} is a disgrace. {last} lied to all of us and should resign",
    "Absolutely disgusting. {last} betrayed every voter in {city} with {scandal}",
    "{last} is a fraud and a liar. Resign now",
    "So angry about {scandal}. {last} is corrupt, dishonest and shameful",
    "{scandal_cap}?? This is criminal. {last} is the worst",
    "I'm furious. {last} lied about {scandal} and hurt this city. Disgrace",
    "Pathetic. {last} stole from taxpayers and lied about it. Disgusting",
    "{last} is a liar and a cheat. {scandal_cap} is a scandal",
    "Shameful, dishonest, disgusting. Everything about {scandal} is wrong",
    "{last} should be ashamed. {scandal_cap} is fraud, plain and simple. Horrible",
    "Done with {last}. Lying, cheating and now {scandal}. Disgraceful and sick",
    "This {scandal} scandal is sickening. {last} is a criminal",
    "{last} thinks we're stupid. {scandal_cap} is a disaster and a disgrace",
    "Evil and disgusting. {last} abused our trust with {scandal}. Resign",
    "WTF {last}?! {scandal_cap} is a horrible betrayal",
];
/// Crisis news headlines.
pub(super) const CRISIS_NEWS: &[&str] = &[
    "Outrage grows as {last} faces fraud allegations and a criminal probe over {scandal}",
    "{last} accused of lying about {scandal}; critics demand resignation amid scandal",
    "Scandal: {scandal_cap} sparks anger, fraud probe and calls for {last} to resign",
    "Furious voters slam {last} after {scandal}: 'a disgrace and a betrayal'",
    "{last} under fire: {scandal} ignites outrage, criminal complaint",
];
/// Words the crisis templates emphasise in capitals now and then.
pub(super) const CRISIS_SHOUT: &[&str] = &["RESIGN", "LIAR", "FRAUD", "DISGRACE", "SHAME ON YOU"];

/// Weekdays.
pub(super) const DAYS: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
/// Weekdays in Spanish.
pub(super) const DAYS_ES: &[&str] = &[
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábado",
    "domingo",
];
/// Event times.
pub(super) const TIMES: &[&str] = &["6pm", "6:30pm", "7pm", "noon", "10am", "5:30pm", "8pm"];

/// Words for reddit-style generated usernames (Adjective-Noun-1234).
pub(super) const REDDIT_ADJ: &[&str] = &[
    "Quiet", "Rusty", "Purple", "Lanky", "Cosmic", "Brave", "Dizzy", "Salty", "Mellow", "Sudden",
    "Tidy", "Witty", "Amber", "Frosty", "Hollow", "Clever", "Nimble", "Grumpy", "Lucky", "Bitter",
];
/// Nouns for reddit-style usernames.
pub(super) const REDDIT_NOUN: &[&str] = &[
    "Badger", "Otter", "Pickle", "Lantern", "Walrus", "Falcon", "Teapot", "Cactus", "Heron",
    "Muffin", "Anchor", "Bison", "Pretzel", "Comet", "Moose", "Turnip", "Gecko", "Kettle",
];
/// Subreddits besides the local ones.
pub(super) const SUBREDDITS: &[&str] = &[
    "politics",
    "PoliticalDiscussion",
    "news",
    "urbanplanning",
    "housing",
    "moderatepolitics",
];

/// National news outlets (fictional): (name, handle, domain).
pub(super) const NATIONAL_OUTLETS: &[(&str, &str, &str)] = &[
    ("National Ledger", "NationalLedger", "nationalledger.com"),
    ("The Daily Dispatch", "DailyDispatch", "dailydispatch.com"),
    ("Capitol Report", "CapitolReport", "capitolreport.com"),
    ("Civic Wire", "CivicWire", "civicwire.org"),
    (
        "The Observer Review",
        "ObserverReview",
        "observerreview.com",
    ),
    (
        "Public Radio News",
        "PublicRadioNews",
        "publicradionews.org",
    ),
    ("The Morning Brief", "MorningBrief", "morningbrief.com"),
    ("Ballot Watch", "BallotWatch", "ballotwatch.org"),
    (
        "Statehouse Journal",
        "StatehouseJrnl",
        "statehousejournal.com",
    ),
    ("American Courier", "AmCourier", "americancourier.com"),
    ("The Policy Desk", "ThePolicyDesk", "policydesk.com"),
    ("Newsline 24", "Newsline24", "newsline24.com"),
];
/// Foreign outlets: (name, handle, domain, country).
pub(super) const FOREIGN_OUTLETS: &[(&str, &str, &str, &str)] = &[
    (
        "The Northern Courier",
        "NorthernCourier",
        "northerncourier.co.uk",
        "GB",
    ),
    ("Maple Daily", "MapleDaily", "mapledaily.ca", "CA"),
    ("El Diario Norte", "DiarioNorte", "diarionorte.mx", "MX"),
    (
        "Berliner Rundschau",
        "BRundschau",
        "berliner-rundschau.de",
        "DE",
    ),
];
/// Local outlet name patterns; `{city}` / `{state}` are filled in.
pub(super) const LOCAL_OUTLETS: &[&str] = &[
    "{city} Tribune",
    "{city} Herald",
    "{city} Public Radio",
    "{state} Mirror",
    "{city} Business Journal",
    "{state} Capitol News",
    "{city} Weekly",
    "{city} Chronicle",
];
/// Suffixes for YouTube / blog / creator handles.
pub(super) const CREATOR_SUFFIXES: &[&str] = &[
    "Talks",
    "Politics",
    "Report",
    "Live",
    "Unfiltered",
    "Explains",
    "Daily",
    "Now",
];
