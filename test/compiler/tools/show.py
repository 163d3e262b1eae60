# mlirfuse-show prints a real model's IR at a stage; the IR feeds mlirfuse-opt.
# RUN: mlirfuse-show %s Block --input 2x8xf32 --stage torch | FileCheck %s --check-prefix=TORCH
# RUN: mlirfuse-show %s Block --input 2x8xf32 --stage linalg | FileCheck %s --check-prefix=LINALG
# RUN: mlirfuse-show %s scaled --input 3x4xf16 --input f16 --stage torch \
# RUN:   | mlirfuse-opt --pass-pipeline='builtin.module(torch-backend-to-linalg-on-tensors-backend-pipeline)' \
# RUN:   | FileCheck %s --check-prefix=PIPE
# RUN: not mlirfuse-show %s Missing 2>&1 | FileCheck %s --check-prefix=ERR

import torch


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x):
        return torch.relu(self.linear(x))


def scaled(x, s):
    return x * s + 1


# Weights are arguments of @main, not constants.
# TORCH: func.func @main(%arg0: !torch.vtensor<[4,8],f32>, %arg1: !torch.vtensor<[4],f32>, %arg2: !torch.vtensor<[2,8],f32>) -> !torch.vtensor<[2,4],f32>
# TORCH: torch.aten.relu
# LINALG: linalg.matmul
# LINALG: arith.cmpf ugt
# PIPE: func.func @main(%arg0: tensor<3x4xf16>, %arg1: tensor<f16>) -> tensor<3x4xf16>
# PIPE: linalg.generic
# ERR: mlirfuse-show: {{.*}} defines no 'Missing'
