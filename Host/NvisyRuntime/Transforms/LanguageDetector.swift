import Foundation

/// Guesses the language of a text from its most common short words — enough to route
/// documents by language in a switch without a model. Knows English, German, French, Spanish,
/// Italian, Dutch and Portuguese (ISO 639-1 codes); answers nil when no language stands out.
public enum LanguageDetector {
    static let stopwords: [String: Set<String>] = [
        "en": ["the", "and", "of", "to", "is", "in", "that", "it", "for", "with", "as", "was", "on", "are", "this", "be", "by", "not", "or", "have"],
        "de": ["der", "die", "und", "das", "ist", "nicht", "mit", "ein", "eine", "zu", "den", "von", "auf", "sich", "des", "dem", "im", "auch", "es", "ich"],
        "fr": ["le", "la", "les", "et", "des", "est", "un", "une", "du", "que", "pas", "pour", "dans", "qui", "sur", "au", "avec", "il", "ce", "ne"],
        "es": ["el", "la", "los", "las", "y", "que", "es", "en", "un", "una", "del", "por", "con", "para", "no", "se", "al", "lo", "como", "su"],
        "it": ["il", "di", "che", "non", "è", "la", "un", "una", "per", "con", "del", "della", "sono", "gli", "le", "si", "ma", "anche", "nel", "questo"],
        "nl": ["de", "het", "een", "en", "van", "is", "niet", "dat", "op", "te", "zijn", "met", "voor", "ik", "die", "er", "maar", "ook", "als", "aan"],
        "pt": ["o", "a", "os", "as", "e", "que", "do", "da", "em", "um", "uma", "não", "para", "com", "no", "na", "se", "por", "mais", "dos"],
    ]

    /// The language code of `text`, judged from its first few thousand characters.
    public static func detect(_ text: some StringProtocol) -> String? {
        var counts: [String: Int] = [:]
        var words = 0
        for raw in text.prefix(4000).lowercased().split(whereSeparator: { !$0.isLetter }) {
            words += 1
            let word = String(raw)
            for (language, list) in stopwords where list.contains(word) { counts[language, default: 0] += 1 }
        }
        let ranked = counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
        guard let best = ranked.first, words >= 3, best.value >= 2 else { return nil }
        // A clear winner only: ahead of the next by a quarter at least.
        if ranked.count > 1, Double(ranked[1].value) > Double(best.value) * 0.75 { return nil }
        return best.key
    }
}
