/// A model-independent token estimate: about one token per four UTF-8 bytes of English text
/// (the rule of thumb of BPE tokenizers), at least one per word-like run. Stored with each chunk
/// and used to fit chunks into a model's context budget; not an exact count for any model.
public enum TokenEstimate {
    public static func tokens(_ text: String) -> Int {
        let bytes = text.utf8.count
        guard bytes > 0 else { return 0 }
        var words = 0
        var inWord = false
        for b in text.utf8 {
            let space = b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D
            if !space, !inWord { words += 1 }
            inWord = !space
        }
        return max(words, (bytes + 3) / 4)
    }
}
