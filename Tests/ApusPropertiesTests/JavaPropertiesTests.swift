import ApusProperties
import Testing

/// `JavaProperties` against `java.util.Properties.load`'s rules, with the cases its
/// documentation gives.
struct JavaPropertiesTests {
    func entries(_ text: String) -> [String] {
        JavaProperties.parse(text).map { "\($0.key)=\($0.value)" }
    }

    @Test func separatorsWhitespaceAndComments() {
        #expect(entries("""
            # a comment
               ! another
            plain=value
            colon:value
            space value
              spaced   =   value with trailing space\u{20}\u{20}
            \tkey.only
            empty=
            a=b=c
            """) == [
                "plain=value", "colon=value", "space=value", "spaced=value with trailing space  ", "key.only=", "empty=",
                "a=b=c",
            ])
    }

    @Test func continuationLinesAndTheirLeadingWhitespace() {
        #expect(entries("""
            listeners=PLAINTEXT://:9092,\\
                      SSL://:9093
            fruits    apple, banana, pear, \\
                      cantaloupe, watermelon, \\
                      kiwi, mango
            even=ends with a backslash\\\\
            next=line
            comment.inside=one\\
              # not a comment
            """) == [
                "listeners=PLAINTEXT://:9092,SSL://:9093",
                "fruits=apple, banana, pear, cantaloupe, watermelon, kiwi, mango",
                "even=ends with a backslash\\",
                "next=line",
                "comment.inside=one# not a comment",
            ])
        #expect(entries("last=goes on\\") == ["last=goes on"])
    }

    @Test func escapesAndLineEnds() {
        #expect(entries("k\\=e\\:y\\ x=v\\tal\\nue\\u00e9\\\\\\q\r\nsecond=2\rthird=3\n") == [
            "k=e:y x=v\tal\nueé\\q", "second=2", "third=3",
        ])
        #expect(entries("path=C:\\\\Program Files\\\\Kafka") == ["path=C:\\Program Files\\Kafka"])
        #expect(entries("bad=\\u12") == ["bad=u12"])
    }

    /// Java's `String.trim`: everything at or below U+0020 goes, other spaces stay.
    @Test func trimmedAsJavaTrims() {
        #expect(JavaProperties.trimmed(" \t\r\n\u{0C}\u{01}value with space\t\n ") == "value with space")
        #expect(JavaProperties.trimmed("\u{00A0}kept\u{3000}") == "\u{00A0}kept\u{3000}")
        #expect(JavaProperties.trimmed(" \t ") == "")
    }

    @Test func writtenLinesReadBackExactly() {
        let awkward = ["", " ", "  lead", "trail  ", "a=b", "c:d", "#hash", "!bang", "back\\slash", "line\nend", "cr\rlf\r\n",
                       "tab\t", "é ü", "end\\"]
        for key in awkward.filter({ !$0.isEmpty }) + ["config.retention.ms"] {
            for value in awkward {
                let text = JavaProperties.line(key: key, value: value) + "\n"
                let parsed = JavaProperties.parse(text)
                #expect(parsed.count == 1 && parsed.first?.key == key && parsed.first?.value == value, "\(text.debugDescription)")
            }
        }
    }
}
