import Posthoc
import Records
import Testing

/// Records (which cannot depend on Posthoc) spells the Laplace method names a tree's folders may carry; they
/// must stay the structures and links that `bayeval laplace` fits, or a new one would be silently skipped when
/// a tree is compared.
@Suite struct TreeMethodNamesTests {
    @Test func laplaceNamesAreTheFittedStructuresAndLinks() {
        #expect(TreeMethodName.laplaceStructures == Set(HessianStructure.allCases.map(\.rawValue)))
        #expect(TreeMethodName.laplaceLinks == Set(GLMLink.allCases.map(\.rawValue)))
        for s in HessianStructure.allCases {
            for l in GLMLink.allCases {
                let name = "laplace-\(s.rawValue)-\(l.rawValue)"
                #expect(TreeMethodName.parse(name) == name)
            }
        }
        #expect(TreeMethodName.parse("laplace-kron") == nil)
        #expect(TreeMethodName.parse("laplace-banded-probit") == nil)
    }
}
