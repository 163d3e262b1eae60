module {
  func.func @main(%arg0: !torch.vtensor<[8],f32>) -> !torch.vtensor<[8],f32> {
    %int0 = torch.constant.int 0
    %int1 = torch.constant.int 1
    %none = torch.constant.none
    %int-1 = torch.constant.int -1
    %0 = torch.aten.fft_fft %arg0, %none, %int-1, %none : !torch.vtensor<[8],f32>, !torch.none, !torch.int, !torch.none -> !torch.vtensor<[8],complex<f32>>
    %1 = torch.aten.view_as_real %0 : !torch.vtensor<[8],complex<f32>> -> !torch.vtensor<[8,2],f32>
    %2 = torch.aten.slice.Tensor %1, %int1, %int0, %int1, %int1 : !torch.vtensor<[8,2],f32>, !torch.int, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[8,1],f32>
    %3 = torch.aten.squeeze.dim %2, %int1 : !torch.vtensor<[8,1],f32>, !torch.int -> !torch.vtensor<[8],f32>
    return %3 : !torch.vtensor<[8],f32>
  }
}
