// Node -> edge projection on a fully connected graph (the jet-tagging IN's custom layer).
#ifndef NNET_NODE_EDGE_PROJECTION_H_
#define NNET_NODE_EDGE_PROJECTION_H_

#include "nnet_common.h"

namespace nnet {

struct node_edge_projection_config {
    static const unsigned n_nodes = 8;
    static const unsigned n_features = 3;
    static const bool receiving = true;
};

// Edge e = (s, r), s != r, sender-major: s = e / (N - 1), r = e % (N - 1), skipping r == s.
template <class data_T, class res_T, typename CONFIG_T>
void node_edge_projection(data_T nodes[CONFIG_T::n_nodes * CONFIG_T::n_features],
                          res_T res[CONFIG_T::n_nodes * (CONFIG_T::n_nodes - 1) * CONFIG_T::n_features]) {
    #pragma HLS PIPELINE
    for (unsigned e = 0; e < CONFIG_T::n_nodes * (CONFIG_T::n_nodes - 1); e++) {
        #pragma HLS UNROLL
        unsigned s = e / (CONFIG_T::n_nodes - 1);
        unsigned r = e % (CONFIG_T::n_nodes - 1);
        r = r >= s ? r + 1 : r;
        unsigned n = CONFIG_T::receiving ? r : s;
        for (unsigned f = 0; f < CONFIG_T::n_features; f++) {
            #pragma HLS UNROLL
            res[e * CONFIG_T::n_features + f] = nodes[n * CONFIG_T::n_features + f];
        }
    }
}

} // namespace nnet

#endif
