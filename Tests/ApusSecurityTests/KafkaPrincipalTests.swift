import Testing
import ApusSecurity

@Suite struct KafkaPrincipalTests {
    @Test func parsingSplitsAtTheFirstColon() {
        #expect(KafkaPrincipal(parsing: "User:alice") == KafkaPrincipal(type: "User", name: "alice"))
        #expect(KafkaPrincipal(parsing: "Group:ops") == KafkaPrincipal(type: "Group", name: "ops"))
        #expect(KafkaPrincipal(parsing: "User:CN=a,O=b:c") == KafkaPrincipal(name: "CN=a,O=b:c"))
    }

    @Test(arguments: ["alice", ":alice", "User:", ":", ""])
    func textWithoutTypeAndNameIsRefused(text: String) {
        #expect(KafkaPrincipal(parsing: text) == nil)
    }

    @Test func descriptionIsTypeColonName() {
        #expect(KafkaPrincipal(name: "alice").description == "User:alice")
        #expect(KafkaPrincipal.anonymous.description == "User:ANONYMOUS")
        #expect(KafkaPrincipal(parsing: KafkaPrincipal(type: "Group", name: "x:y").description) == KafkaPrincipal(type: "Group", name: "x:y"))
    }
}
