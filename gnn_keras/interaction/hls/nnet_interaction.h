// Interaction-network layers for hls4ml (io_parallel): node -> edge gather, edge -> node aggregation.
// Registered through hls4ml's Extension API by gnn_keras.interaction.hls.register_extension().
#ifndef NNET_INTERACTION_H_
#define NNET_INTERACTION_H_

#include "nnet_common.h"

namespace nnet {

struct edge_gather_config {
    static const unsigned n_nodes = 32;
    static const unsigned n_edges = 64;
    static const unsigned n_features = 3;
};

struct edge_aggregate_config {
    static const unsigned n_nodes = 32;
    static const unsigned n_edges = 64;
    static const unsigned n_features = 8;
    static const bool mean = false;
    typedef ap_fixed<24, 12> accum_t;    // exact sum of n_edges messages (chosen by the converter)
    typedef ap_ufixed<18, 1> inv_t;      // 1/in-degree table entries (mean)
    typedef ap_uint<7> count_t;          // in-degree, 0..n_edges
};

// A slot outside [0, n_nodes) reads node 0: the data are checked before they reach the firmware,
// and the emulation must never read outside its arrays.
template <class index_T, unsigned N> unsigned node_slot(index_T slot) {
    unsigned n = slot.to_uint();
    return n < N ? n : 0;
}

// res[e] = [x[sender(e)], x[receiver(e)]]: every output element is one n_nodes:1 multiplexer.
template <class data_T, class index_T, class res_T, typename CONFIG_T>
void edge_gather(data_T nodes[CONFIG_T::n_nodes * CONFIG_T::n_features], index_T index[CONFIG_T::n_edges * 2],
                 res_T res[CONFIG_T::n_edges * 2 * CONFIG_T::n_features]) {
    #pragma HLS PIPELINE
    for (unsigned e = 0; e < CONFIG_T::n_edges; e++) {
        #pragma HLS UNROLL
        for (unsigned side = 0; side < 2; side++) {
            #pragma HLS UNROLL
            unsigned n = node_slot<index_T, CONFIG_T::n_nodes>(index[2 * e + side]);
            for (unsigned f = 0; f < CONFIG_T::n_features; f++) {
                #pragma HLS UNROLL
                res[(2 * e + side) * CONFIG_T::n_features + f] = nodes[n * CONFIG_T::n_features + f];
            }
        }
    }
}

template <class inv_T, unsigned N> void init_reciprocal_table(inv_T table[N + 1]) {
    table[0] = 0;
    for (unsigned k = 1; k <= N; k++) {
        table[k] = 1.0 / k; // cast with inv_T's rounding (AP_RND_CONV): the Keras layer uses the same values
    }
}

// Receiver-side scatter-add: node n sums the messages of the real edges whose receiver is n. Each
// (node, feature) is an n_edges-input adder tree over enable-gated messages (one comparator per
// node and edge, shared by the features); nothing is read back and written again, so the sum is
// one combinational reduction in accum_t, which the converter sizes so that it cannot overflow.
template <class data_T, class index_T, class mask_T, class res_T, typename CONFIG_T>
void edge_aggregate(data_T msg[CONFIG_T::n_edges * CONFIG_T::n_features], index_T index[CONFIG_T::n_edges * 2],
                    mask_T mask[CONFIG_T::n_edges], res_T res[CONFIG_T::n_nodes * CONFIG_T::n_features]) {
#ifdef __HLS_SYN__
    bool initialized = false;
    typename CONFIG_T::inv_t inv_table[CONFIG_T::n_edges + 1];
#else
    static bool initialized = false;
    static typename CONFIG_T::inv_t inv_table[CONFIG_T::n_edges + 1];
#endif
    if (CONFIG_T::mean && !initialized) {
        init_reciprocal_table<typename CONFIG_T::inv_t, CONFIG_T::n_edges>(inv_table);
        initialized = true;
    }
    #pragma HLS PIPELINE
    bool real[CONFIG_T::n_edges];
    #pragma HLS ARRAY_PARTITION variable = real complete
    unsigned receiver[CONFIG_T::n_edges];
    #pragma HLS ARRAY_PARTITION variable = receiver complete
    for (unsigned e = 0; e < CONFIG_T::n_edges; e++) {
        #pragma HLS UNROLL
        real[e] = mask[e] != 0;
        receiver[e] = index[2 * e + 1].to_uint();
    }
    for (unsigned n = 0; n < CONFIG_T::n_nodes; n++) {
        #pragma HLS UNROLL
        typename CONFIG_T::count_t degree = 0;
        bool hit[CONFIG_T::n_edges];
        #pragma HLS ARRAY_PARTITION variable = hit complete
        for (unsigned e = 0; e < CONFIG_T::n_edges; e++) {
            #pragma HLS UNROLL
            hit[e] = real[e] && receiver[e] == n;
            degree += hit[e];
        }
        for (unsigned f = 0; f < CONFIG_T::n_features; f++) {
            #pragma HLS UNROLL
            typename CONFIG_T::accum_t acc = 0;
            for (unsigned e = 0; e < CONFIG_T::n_edges; e++) {
                #pragma HLS UNROLL
                if (hit[e])
                    acc += msg[e * CONFIG_T::n_features + f];
            }
            if (CONFIG_T::mean) {
                res[n * CONFIG_T::n_features + f] = acc * inv_table[degree]; // exact product, one rounding
            } else {
                res[n * CONFIG_T::n_features + f] = acc;
            }
        }
    }
}

} // namespace nnet

#endif
