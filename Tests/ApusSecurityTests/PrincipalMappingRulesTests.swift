import Testing
@testable import ApusSecurity

/// Cases from Kafka's documentation and SslPrincipalMapperTest.
@Suite struct PrincipalMappingRulesTests {
    @Test func kafkaDocumentationExampleMapsEachDistinguishedName() throws {
        let rules = try PrincipalMappingRules(parsing:
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT")
        #expect(rules.rules.count == 4)
        #expect(rules.name(forDistinguishedName: "CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown") == "serviceuser")
        #expect(rules.name(forDistinguishedName: "CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown") == "adminuser@admin")
        #expect(rules.name(forDistinguishedName: "O=Org,cN=Duke.Two,C=US") == "duke.two")
        #expect(rules.name(forDistinguishedName: "OU=JavaSoft,O=Sun Microsystems,C=US") == "OU=JavaSoft,O=Sun Microsystems,C=US")
    }

    @Test func kafkaTestRulesMapWithCaseConversion() throws {
        let rules = try PrincipalMappingRules(parsing:
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L, RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U, RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT")
        #expect(rules.name(forDistinguishedName: "CN=Duke,OU=ServiceUsers,O=Org,C=US") == "duke")
        #expect(rules.name(forDistinguishedName: "CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US") == "duke@sme")
        #expect(rules.name(forDistinguishedName: "cn=duke,ou=sme,dc=mycp,dc=com") == "DUKE@SME")
        #expect(rules.name(forDistinguishedName: "cN=duke,OU=JavaSoft,O=Sun Microsystems") == "DUKE")
        #expect(rules.name(forDistinguishedName: "OU=JavaSoft,O=Sun Microsystems,C=US") == "OU=JavaSoft,O=Sun Microsystems,C=US")
    }

    @Test func escapedCommaInsideAPatternBelongsToTheRule() throws {
        let rules = try PrincipalMappingRules(parsing: #"RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT"#)
        #expect(rules.rules.count == 2)
        #expect(rules.name(forDistinguishedName: #"CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz"#) == #"Tkac\, Adam"#)
    }

    @Test func noMatchingRuleGivesNoName() throws {
        let rules = try PrincipalMappingRules(parsing: "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/")
        #expect(rules.name(forDistinguishedName: "CN=alice,OU=Humans") == nil)
        #expect(try PrincipalMappingRules(parsing: "").name(forDistinguishedName: "CN=alice") == nil)
    }

    @Test func defaultRulesGiveTheDistinguishedName() throws {
        #expect(PrincipalMappingRules.default.name(forDistinguishedName: "CN=alice,O=Example") == "CN=alice,O=Example")
        #expect(try PrincipalMappingRules(parsing: " DEFAULT ") == .default)
    }

    @Test func rulesAreSplitAsKafkaSplitsThem() throws {
        typealias Rule = PrincipalMappingRules.Rule
        #expect(try PrincipalMappingRules(parsing: "").rules == [])
        #expect(try PrincipalMappingRules(parsing: "RULE://").rules == [.rule(pattern: "", replacement: "", caseConversion: .none)])
        #expect(try PrincipalMappingRules(parsing: "RULE:/.*/L").rules == [.rule(pattern: "", replacement: ".*", caseConversion: .lower)])
        #expect(try PrincipalMappingRules(parsing: "  RULE:// ,  DEFAULT  ").rules == [.rule(pattern: "", replacement: "", caseConversion: .none), .default])
        #expect(try PrincipalMappingRules(parsing: "  RULE:  /     /U   ,DEFAULT  ").rules
            == [.rule(pattern: "  ", replacement: "     ", caseConversion: .upper), .default])
        #expect(try PrincipalMappingRules(parsing: "  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  ").rules == [
            .rule(pattern: "([A-Z]*)", replacement: "$1", caseConversion: .upper),
            .rule(pattern: "([a-z]+)", replacement: "$1", caseConversion: .none),
            .default,
        ] as [Rule])
    }

    @Test(arguments: [
        "default", "DEFAUL", "DEFAULT/L", "DEFAULT/U",
        "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
        "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
        "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
        "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
        "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
        "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
        "RULE:^CN=((.*?)/$1/",
        "RULE:^CN=(.*)$/$x/",
    ])
    func invalidRulesAreRefused(text: String) {
        #expect(throws: ConfigurationError.self) { try PrincipalMappingRules(parsing: text) }
    }

    @Test(arguments: [
        "DEFAULT",
        "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
        "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
        "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
        "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
        "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
        "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
        "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
    ])
    func validRulesAreAccepted(text: String) throws {
        #expect(try !PrincipalMappingRules(parsing: text).rules.isEmpty)
    }

    @Test func characterClassesWithRuleKeywordsStillMatch() throws {
        let rules = try PrincipalMappingRules(parsing: "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/")
        #expect(rules.name(forDistinguishedName: "CN=bob,OU=x") == "bob")
        #expect(rules.name(forDistinguishedName: "CN=Tom,OU=x") == nil)
    }

    @Test func escapedSlashAndDollarInReplacementAreLiteral() throws {
        let rules = try PrincipalMappingRules(parsing: #"RULE:^CN=(\w+)\/(\w+)$/$2\/$1\$/"#)
        #expect(rules.name(forDistinguishedName: "CN=a/b") == "b/a$")
    }

    @Test func groupNumbersBeyondThePatternAreLiteral() throws {
        let rules = try PrincipalMappingRules(parsing: "RULE:^CN=(.*)$/$1-$2-$12/")
        #expect(rules.name(forDistinguishedName: "CN=x") == "x-$2-x2")
    }
}
