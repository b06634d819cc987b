// placement-sim: measures partition placement algorithms side by side; see Docs/placement.md.
// One JSON line per (algorithm, brokers, partitions, rf), then one line timing `apus` on
// 100,000 partitions × RF 3 over 100 brokers. Run it through tools/placement-sim.
import ApusPlacement

let usage = """
    usage: placement-sim [--brokers 3,5,10,30,100] [--partitions 1000,10000] [--rf 1,3]
                         [--algorithms apus,apus-stateless,modulo,ring128,rendezvous,jump]
                         [--benchmark-runs 5] [--no-benchmark]
    """

var options = SimulationOptions()
var arguments = CommandLine.arguments.dropFirst()
func integers(_ text: String?) -> [Int] {
    guard let text, case let values = text.split(separator: ",").compactMap({ Int($0) }), !values.isEmpty else {
        print(usage)
        exit(2)
    }
    return values
}
while let argument = arguments.popFirst() {
    switch argument {
    case "--brokers": options.brokerCounts = integers(arguments.popFirst())
    case "--partitions": options.partitionCounts = integers(arguments.popFirst())
    case "--rf": options.replicationFactors = integers(arguments.popFirst())
    case "--algorithms": options.algorithms = (arguments.popFirst() ?? "").split(separator: ",").map(String.init)
    case "--benchmark-runs": options.benchmarkRuns = integers(arguments.popFirst())[0]
    case "--no-benchmark": options.benchmarkRuns = 0
    case "-h", "--help":
        print(usage)
        exit(0)
    default:
        print("placement-sim: unknown argument \(argument)\n\(usage)")
        exit(2)
    }
}

func algorithm(named name: String) -> any SimulatedAlgorithm {
    switch name {
    case "apus": return ApusAlgorithm(name: "apus", sticky: true)
    case "apus-stateless": return ApusAlgorithm(name: "apus-stateless", sticky: false)
    case "modulo": return ModuloAlgorithm()
    case "ring128": return RingAlgorithm()
    case "rendezvous": return RendezvousAlgorithm()
    case "jump": return JumpAlgorithm()
    default:
        print("placement-sim: unknown algorithm \(name)\n\(usage)")
        exit(2)
    }
}
let algorithms = options.algorithms.map(algorithm(named:))

for partitions in options.partitionCounts {
    for factor in options.replicationFactors {
        for brokers in options.brokerCounts where factor <= brokers {
            for algorithm in algorithms {
                print(simulate(algorithm, brokers: brokers, partitions: partitions, replicationFactor: factor).json)
            }
        }
    }
}
if options.benchmarkRuns > 0 {
    print(benchmarkRebuild(brokers: 100, partitions: 100_000, replicationFactor: 3, runs: options.benchmarkRuns))
}
