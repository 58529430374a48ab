import Testing
@testable import Runtime

@Suite struct TensorTests {
    @Test func shapeAndStorage() {
        let t = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        #expect(t.count == 6 && t.rows == 2 && t.columns == 3)
        t[4] = 50
        #expect(t.values == [1, 2, 3, 4, 50, 6])
        #expect(Tensor(shape: [0, 4]).count == 0)
    }
}
